import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Report } from '../engine/phases/report.js';
import type { Notifier } from '../engine/run/ports.js';

/** The run's one data point of each metric the stack's dashboard and alarms read (namespace `djgc`, dimension `service`). */
type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

export function runMetricsOf(report: Report): [name: string, unit: Unit, value: number][] {
  return [
    ['RunsFinished', MetricUnit.Count, 1],
    ['RunsPartial', MetricUnit.Count, report.complete ? 0 : 1],
    ['RunsFailed', MetricUnit.Count, report.errors > 0 ? 1 : 0],
    ['Stored', MetricUnit.Count, report.stored],
    ['Referenced', MetricUnit.Count, report.referenced],
    ['Orphaned', MetricUnit.Count, report.orphaned],
    ['Deleted', MetricUnit.Count, report.deleted],
    ['Quarantined', MetricUnit.Count, report.quarantined],
    ['Restored', MetricUnit.Count, report.restored],
    ['Purged', MetricUnit.Count, report.purged],
    ['OrphanedBytes', MetricUnit.Bytes, report.orphaned_bytes],
    ['BytesFreed', MetricUnit.Bytes, report.bytes_freed],
    ['Errors', MetricUnit.Count, report.errors],
    ['OrphanFraction', MetricUnit.Percent, report.stored === 0 ? 0 : (report.orphaned / report.stored) * 100],
    ['MarkDuration', MetricUnit.Milliseconds, report.timings_ms.mark ?? 0],
    ['SweepDuration', MetricUnit.Milliseconds, report.timings_ms.sweep ?? 0],
    ['ReportDuration', MetricUnit.Milliseconds, report.timings_ms.report ?? 0],
  ];
}

/** Publishes through `next`, then emits the run's metrics: both happen once per run, when the run is reported. */
export class MetricsNotifier implements Notifier {
  constructor(
    private readonly next: Notifier,
    private readonly metrics: Metrics = new Metrics({
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'djgc',
      serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'djgc',
    }),
  ) {}

  async publish(report: Report): Promise<void> {
    try {
      await this.next.publish(report);
    } finally {
      for (const [name, unit, value] of runMetricsOf(report)) this.metrics.addMetric(name, unit, value);
      this.metrics.publishStoredMetrics();
    }
  }
}
