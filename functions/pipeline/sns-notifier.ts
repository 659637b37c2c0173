import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { formatBytes, formatReport, type Report } from '../engine/phases/report.js';
import type { Notifier } from '../engine/run/ports.js';
import type { RunFolder } from '../engine/run/run-folder.js';
import type { ReportLinker, ReportLinks } from './report-links.js';

const runStatusOf = (report: Report): 'ok' | 'partial' | 'failed' => (!report.complete ? 'partial' : report.errors > 0 ? 'failed' : 'ok');

/** Subject (at most 100 characters, as SNS requires) and body of the run's one notification. */
export function notificationOf(report: Report, folder: RunFolder, links?: ReportLinks): { subject: string; body: string } {
  const status = runStatusOf(report).toUpperCase();
  const what = report.dry_run
    ? `${report.orphaned} orphaned (${formatBytes(report.orphaned_bytes)}), dry run`
    : `${report.deleted} deleted (${formatBytes(report.bytes_freed)} freed)`;
  const subject = `djgc ${status}: ${what}`.slice(0, 100);
  const body = [
    `djgc run ${report.run_id}: ${status}`,
    report.dry_run
      ? `Dry run: nothing was deleted. To delete these orphans, start the scanner with {"approveRun": "${report.run_id}"}.`
      : 'Collect: orphans older than the grace period were deleted after a re-check.',
    report.complete ? '' : `Shards without a result: ${report.failed_shards.join(', ')}`,
    ...(links
      ? [
          `Report (link valid until ${links.expiresAt.toISOString()}): ${links.report}`,
          `Run history: ${links.history}`,
          `Run folder in the S3 console: ${links.folder}`,
          `Stored at: ${folder.reportLocation(report.run_id, 'html')} (also report.json, report.txt); after the link expires: djgc report ${report.run_id} --bucket <report bucket>`,
        ]
      : [`Report: ${folder.reportLocation(report.run_id, 'html')} (also report.json, report.txt)`]),
    '',
    formatReport(report),
  ]
    .filter((line, i) => line !== '' || i > 2)
    .join('\n');
  return { subject, body };
}

export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
    private readonly folder: RunFolder,
    private readonly links?: ReportLinker,
  ) {}

  async publish(report: Report): Promise<void> {
    const { subject, body } = notificationOf(report, this.folder, await this.links?.linksFor(report.run_id));
    await this.sns.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: subject,
        Message: body,
        MessageAttributes: {
          status: { DataType: 'String', StringValue: runStatusOf(report) },
          dry_run: { DataType: 'String', StringValue: String(report.dry_run) },
        },
      }),
    );
  }
}
