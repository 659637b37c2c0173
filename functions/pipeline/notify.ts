import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { formatBytes, formatReport, type Report } from '../engine/report.js';

/** Subject (at most 100 characters, as SNS requires) and body of the run's one notification. */
export function notificationOf(report: Report, bucket: string): { subject: string; body: string } {
  const status = !report.complete ? 'PARTIAL' : report.errors.length > 0 ? 'FAILED' : 'OK';
  const what = report.dry_run
    ? `${report.orphaned} orphaned (${formatBytes(report.orphaned_bytes)}), dry run`
    : `${report.deleted} deleted (${formatBytes(report.bytes_freed)} freed)`;
  const subject = `djgc ${status}: ${what}`.slice(0, 100);
  const base = `s3://${bucket}/runs/${report.run_id}`;
  const body = [
    `djgc run ${report.run_id}: ${status}`,
    report.dry_run
      ? `Dry run: nothing was deleted. To delete these orphans, start the scanner with {"approveRun": "${report.run_id}"}.`
      : 'Collect: orphans older than the grace period were deleted after a re-check.',
    report.complete ? '' : `Shards without a result: ${report.failed_shards.join(', ')}`,
    `Report: ${base}/report.html (also report.json, report.txt)`,
    '',
    formatReport(report),
  ]
    .filter((line, i) => line !== '' || i > 2)
    .join('\n');
  return { subject, body };
}

export async function publishReport(sns: SNSClient, topicArn: string, report: Report, bucket: string): Promise<void> {
  const { subject, body } = notificationOf(report, bucket);
  await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: subject,
      Message: body,
      MessageAttributes: {
        status: { DataType: 'String', StringValue: !report.complete ? 'partial' : report.errors.length > 0 ? 'failed' : 'ok' },
        dry_run: { DataType: 'String', StringValue: String(report.dry_run) },
      },
    }),
  );
}
