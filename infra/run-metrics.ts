import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/**
 * The metrics a finished run emits (Powertools Metrics, embedded metric format): one
 * data point per run, namespace `djgc`, one dimension `service` (POWERTOOLS_SERVICE_NAME).
 * Whoever finishes a run emits them: the reporter, or the scanner for a run with
 * nothing to sweep.
 */
export const RUN_METRICS_NAMESPACE = 'djgc';

export const RUN_METRICS = {
  RunsFinished: cloudwatch.Unit.COUNT,
  RunsPartial: cloudwatch.Unit.COUNT,
  RunsFailed: cloudwatch.Unit.COUNT,
  Stored: cloudwatch.Unit.COUNT,
  Referenced: cloudwatch.Unit.COUNT,
  Orphaned: cloudwatch.Unit.COUNT,
  Deleted: cloudwatch.Unit.COUNT,
  Quarantined: cloudwatch.Unit.COUNT,
  Restored: cloudwatch.Unit.COUNT,
  Purged: cloudwatch.Unit.COUNT,
  OrphanedBytes: cloudwatch.Unit.BYTES,
  BytesFreed: cloudwatch.Unit.BYTES,
  Errors: cloudwatch.Unit.COUNT,
  OrphanFraction: cloudwatch.Unit.PERCENT,
  MarkDuration: cloudwatch.Unit.MILLISECONDS,
  SweepDuration: cloudwatch.Unit.MILLISECONDS,
  ReportDuration: cloudwatch.Unit.MILLISECONDS,
} as const;

export type RunMetricName = keyof typeof RUN_METRICS;

export function runMetric(
  service: string,
  name: RunMetricName,
  options: { statistic: string; period?: Duration; label?: string },
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: RUN_METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service },
    statistic: options.statistic,
    period: options.period ?? Duration.minutes(5),
    label: options.label,
  });
}
