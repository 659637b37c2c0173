import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { runMetric, type RunMetricName } from './run-metrics.js';
import type { DjgcSettings } from './settings.js';

export interface DashboardSources {
  readonly queues: Record<string, sqs.IQueue>;
  readonly functions: Record<string, lambda.IFunction>;
  readonly alarms: cloudwatch.IAlarm[];
}

const DAY = Duration.days(1);
const HOUR = Duration.hours(1);

/** The collector's dashboard: run metrics, queues, functions and the alarms' state. */
export function addDashboard(scope: Construct, sources: DashboardSources, settings: DjgcSettings): cloudwatch.Dashboard {
  const service = settings.serviceName;
  // Counts of what a run found are levels (the largest run of the period); what runs did adds up.
  const level = (name: RunMetricName) => runMetric(service, name, { statistic: 'Maximum', period: DAY });
  const total = (name: RunMetricName) => runMetric(service, name, { statistic: 'Sum', period: DAY });
  const graph = (title: string, left: cloudwatch.IMetric[], extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
    new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, ...extra });

  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', { defaultInterval: Duration.days(30) });
  dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: sources.alarms, width: 24, height: 3 }));
  dashboard.addWidgets(
    graph('Runs (per day)', [total('RunsFinished'), total('RunsPartial'), total('RunsFailed'), total('Errors')], {
      view: cloudwatch.GraphWidgetView.BAR,
    }),
    graph('Objects found (largest run of the day)', [level('Stored'), level('Referenced'), level('Orphaned')]),
    graph('Objects changed (per day)', [total('Deleted'), total('Quarantined'), total('Restored'), total('Purged')], {
      view: cloudwatch.GraphWidgetView.BAR,
    }),
  );
  dashboard.addWidgets(
    graph('Bytes', [level('OrphanedBytes'), total('BytesFreed')]),
    graph('Orphan fraction (%)', [level('OrphanFraction')], {
      leftYAxis: { min: 0, max: 100, showUnits: false },
      leftAnnotations: [{ value: settings.alarms.orphanFractionPercent, label: 'alarm', color: cloudwatch.Color.RED }],
    }),
    graph('Phase durations (longest run of the day)', [level('MarkDuration'), level('SweepDuration'), level('ReportDuration')]),
  );
  const queues = Object.entries(sources.queues);
  dashboard.addWidgets(
    graph(
      'Queue depth',
      queues.map(([name, q]) => q.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: HOUR, label: name })),
      { width: 12 },
    ),
    graph(
      'Age of oldest message',
      queues.map(([name, q]) => q.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: HOUR, label: name })),
      { width: 12 },
    ),
  );
  const functions = Object.entries(sources.functions);
  dashboard.addWidgets(
    graph('Function errors', functions.map(([name, fn]) => fn.metricErrors({ statistic: 'Sum', period: HOUR, label: name }))),
    graph('Function throttles', functions.map(([name, fn]) => fn.metricThrottles({ statistic: 'Sum', period: HOUR, label: name }))),
    graph('Function duration (maximum)', functions.map(([name, fn]) => fn.metricDuration({ statistic: 'Maximum', period: HOUR, label: name }))),
  );
  return dashboard;
}
