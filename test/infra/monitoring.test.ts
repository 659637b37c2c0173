import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { RUN_METRICS } from '../../infra/run-metrics.js';
import { literalText, logicalId, makeStack, only, type Resources, TEMPLATE_TEST_TIMEOUT } from './template-helpers.js';

vi.setConfig({ testTimeout: TEMPLATE_TEST_TIMEOUT });

const METRIC_NAMES = [
  'RunsFinished',
  'RunsPartial',
  'RunsFailed',
  'Stored',
  'Referenced',
  'Orphaned',
  'Deleted',
  'Quarantined',
  'Restored',
  'Purged',
  'OrphanedBytes',
  'BytesFreed',
  'Errors',
  'OrphanFraction',
  'MarkDuration',
  'SweepDuration',
  'ReportDuration',
];

function alarmsById(template: Template): Record<string, Record<string, any>> {
  return Object.fromEntries(
    Object.entries(template.findResources('AWS::CloudWatch::Alarm') as Resources).map(([id, a]) => [id.replace(/[0-9A-F]{8}$/, ''), a.Properties]),
  );
}

describe('run metrics', () => {
  it('are the contract the reporter emits: namespace djgc, dimension service, one data point per run', () => {
    expect(Object.keys(RUN_METRICS).sort()).toEqual([...METRIC_NAMES].sort());
  });
});

describe('dashboard', () => {
  it('shows every run metric, the queues\' depth and oldest message, and the functions\' errors, throttles and durations', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
    const body = literalText(dashboard.DashboardBody);
    for (const name of METRIC_NAMES) expect(body, name).toContain(`["djgc","${name}","service","djgc"`);
    for (const metric of ['ApproximateNumberOfMessagesVisible', 'ApproximateAgeOfOldestMessage']) {
      expect(body.split(`"AWS/SQS","${metric}"`).length - 1, metric).toBe(4);
    }
    for (const metric of ['Errors', 'Throttles', 'Duration']) {
      expect(body.split(`"AWS/Lambda","${metric}"`).length - 1, metric).toBe(3);
    }
    expect(body).toContain('"type":"alarm"');
  });

  it('follows the service name of the collector', () => {
    const template = Template.fromStack(makeStack({ serviceName: 'djgc-lab' }));
    const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
    expect(literalText(dashboard.DashboardBody)).toContain('["djgc","RunsFinished","service","djgc-lab"');
    for (const { Properties: fn } of Object.values(template.findResources('AWS::Lambda::Function') as Resources)) {
      expect(fn.Environment.Variables.POWERTOOLS_SERVICE_NAME).toBe('djgc-lab');
    }
  });
});

describe('alarms', () => {
  it('all publish to the topic', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const topicId = logicalId(stack, stack.collector.topic);
    const alarms = alarmsById(template);
    expect(Object.keys(alarms).sort()).toEqual(
      [
        'WorkDeadLetterAlarm',
        'ResultsDeadLetterAlarm',
        'ScannerErrorsAlarm',
        'WorkerErrorsAlarm',
        'ReporterErrorsAlarm',
        'WorkerThrottlesAlarm',
        'RunFailedOrPartialAlarm',
        'OrphanFractionAlarm',
        'MissedRunAlarm',
      ].sort(),
    );
    for (const alarm of Object.values(alarms)) expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
  });

  it('keep the function error and throttle alarms', () => {
    const stack = makeStack();
    const { collector } = stack;
    const alarms = alarmsById(Template.fromStack(stack));
    for (const [id, metric, fn] of [
      ['ScannerErrorsAlarm', 'Errors', collector.scanner],
      ['WorkerErrorsAlarm', 'Errors', collector.worker],
      ['ReporterErrorsAlarm', 'Errors', collector.reporter],
      ['WorkerThrottlesAlarm', 'Throttles', collector.worker],
    ] as const) {
      expect(alarms[id], id).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack, fn) } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('fire on any message visible in a dead-letter queue', () => {
    const stack = makeStack();
    const { collector } = stack;
    const alarms = alarmsById(Template.fromStack(stack));
    for (const [id, queue] of [
      ['WorkDeadLetterAlarm', collector.workDeadLetterQueue],
      ['ResultsDeadLetterAlarm', collector.resultsDeadLetterQueue],
    ] as const) {
      expect(alarms[id], id).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack, queue), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('fire on a failed or partial run', () => {
    const alarm = alarmsById(Template.fromStack(makeStack())).RunFailedOrPartialAlarm!;
    expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
    const byId = Object.fromEntries((alarm.Metrics as any[]).map((m) => [m.Id, m]));
    expect(byId.expr_1).toMatchObject({ Expression: 'FILL(failed, 0) + FILL(partial, 0)', ReturnData: true });
    for (const [id, name] of [
      ['failed', 'RunsFailed'],
      ['partial', 'RunsPartial'],
    ]) {
      expect(byId[id!]).toMatchObject({
        MetricStat: { Metric: { Namespace: 'djgc', MetricName: name, Dimensions: [{ Name: 'service', Value: 'djgc' }] }, Stat: 'Sum' },
        ReturnData: false,
      });
    }
  });

  it('fire on an orphan-fraction jump above the threshold (default 50 %)', () => {
    const alarm = (props = {}) => alarmsById(Template.fromStack(makeStack(props))).OrphanFractionAlarm!;
    expect(alarm()).toMatchObject({
      Namespace: 'djgc',
      MetricName: 'OrphanFraction',
      Dimensions: [{ Name: 'service', Value: 'djgc' }],
      Statistic: 'Maximum',
      Threshold: 50,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarm({ alarms: { orphanFractionPercent: 20 } }).Threshold).toBe(20);
  });

  it('fire on a missed run: no finished run within twice the schedule period, missing data breaching', () => {
    const missed = (props = {}) => alarmsById(Template.fromStack(makeStack(props))).MissedRunAlarm;
    const day = 24 * 3600;
    expect(missed()).toMatchObject({
      Namespace: 'djgc',
      MetricName: 'RunsFinished',
      Dimensions: [{ Name: 'service', Value: 'djgc' }],
      Statistic: 'Sum',
      Period: 2 * day,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    expect(missed({ schedule: 'rate(6 hours)' })?.Period).toBe(12 * 3600);
    expect(missed({ schedule: 'rate(1 day)' })?.Period).toBe(2 * day);
    expect(missed({ schedule: 'rate(30 minutes)' })?.Period).toBe(3600);
    expect(missed({ schedule: 'cron(0 3 ? * MON *)', alarms: { missedRunHours: 168 } })?.Period).toBe(7 * day);
  });

  it('have no missed-run alarm when the schedule is disabled, one-time, or too slow for CloudWatch to watch', () => {
    const missed = (props = {}) => alarmsById(Template.fromStack(makeStack(props))).MissedRunAlarm;
    expect(missed({ schedule: false })).toBeUndefined();
    expect(missed({ schedule: false, alarms: { missedRunHours: 48 } })).toBeUndefined();
    expect(missed({ schedule: 'at(2030-01-01T03:00:00)' })).toBeUndefined();
    expect(missed({ schedule: 'rate(7 days)' })).toBeUndefined();
  });
});
