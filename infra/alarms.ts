import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { runMetric } from './run-metrics.js';
import type { DjgcSettings } from './settings.js';

export interface AlarmTargets {
  readonly topic: sns.ITopic;
  readonly workDeadLetterQueue: sqs.IQueue;
  readonly resultsDeadLetterQueue: sqs.IQueue;
  readonly scanner: lambda.IFunction;
  readonly worker: lambda.IFunction;
  readonly reporter: lambda.IFunction;
}

const PERIOD = Duration.minutes(5);

/** Every alarm of a collector; all publish to its topic. */
export function addAlarms(scope: Construct, targets: AlarmTargets, settings: DjgcSettings): cloudwatch.Alarm[] {
  const action = new SnsAction(targets.topic);
  const alarms: cloudwatch.Alarm[] = [];
  const alarm = (id: string, props: cloudwatch.AlarmProps): void => {
    const created = new cloudwatch.Alarm(scope, id, props);
    created.addAlarmAction(action);
    alarms.push(created);
  };
  const atLeastOne = (metric: cloudwatch.IMetric, alarmDescription: string): cloudwatch.AlarmProps => ({
    metric,
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription,
  });
  const anyMessage = (queue: sqs.IQueue, alarmDescription: string): cloudwatch.AlarmProps => ({
    metric: queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
    threshold: 0,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription,
  });

  alarm(
    'WorkDeadLetterAlarm',
    anyMessage(
      targets.workDeadLetterQueue,
      'A shard failed on every delivery and waits in the work dead-letter queue (its run is reported as partial). Fix the cause, then redrive the queue.',
    ),
  );
  alarm(
    'ResultsDeadLetterAlarm',
    anyMessage(targets.resultsDeadLetterQueue, 'A shard result could not be processed by the reporter and waits in the results dead-letter queue.'),
  );
  for (const [name, fn] of [
    ['Scanner', targets.scanner],
    ['Worker', targets.worker],
    ['Reporter', targets.reporter],
  ] as const) {
    alarm(`${name}ErrorsAlarm`, atLeastOne(fn.metricErrors({ period: PERIOD, statistic: 'Sum' }), `The djgc ${name.toLowerCase()} function failed.`));
  }
  alarm(
    'WorkerThrottlesAlarm',
    atLeastOne(
      targets.worker.metricThrottles({ period: PERIOD, statistic: 'Sum' }),
      'Worker invocations were throttled: shards wait, and may be dead-lettered.',
    ),
  );

  const service = settings.serviceName;
  alarm(
    'RunFailedOrPartialAlarm',
    atLeastOne(
      new cloudwatch.MathExpression({
        expression: 'FILL(failed, 0) + FILL(partial, 0)',
        usingMetrics: {
          failed: runMetric(service, 'RunsFailed', { statistic: 'Sum', period: PERIOD }),
          partial: runMetric(service, 'RunsPartial', { statistic: 'Sum', period: PERIOD }),
        },
        period: PERIOD,
        label: 'failed or partial runs',
      }),
      'A run finished with errors, or partial (a shard failed or the run timed out): it deleted nothing where it could not read every reference. Open its report.',
    ),
  );
  alarm('OrphanFractionAlarm', {
    metric: runMetric(service, 'OrphanFraction', { statistic: 'Maximum', period: PERIOD }),
    threshold: settings.alarms.orphanFractionPercent,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription: `A run found more than ${settings.alarms.orphanFractionPercent}% of the stored objects orphaned: a sign that references were not read (a schema, table or store missing from what the database user sees). Review the run's orphan list before collecting.`,
  });
  const window = settings.alarms.missedRunMinutes;
  if (window !== undefined) {
    alarm('MissedRunAlarm', {
      metric: runMetric(service, 'RunsFinished', { statistic: 'Sum', period: Duration.minutes(window) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription: `No run has finished for ${window % 60 === 0 ? `${window / 60} hours` : `${window} minutes`}: the schedule, the scanner or the reporter is not working (or runs are refused by a lock).`,
    });
  }
  return alarms;
}
