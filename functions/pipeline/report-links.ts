import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { RunFolder } from '../engine/run/run-folder.js';

/** What a person can click in the notification: the report and history pages, and the run's folder in the S3 console. */
export interface ReportLinks {
  report: string;
  history: string;
  folder: string;
  /** When the presigned links stop working (at the latest: they also end with the credentials that signed them). */
  expiresAt: Date;
}

/**
 * Presigned GET links to a run's pages in the report bucket, which blocks all public access. The
 * signature carries the reporter's role credentials: a link works until `expiryHours` have passed
 * or those credentials expire, whichever comes first.
 */
export class ReportLinker {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly folder: RunFolder,
    private readonly expiryHours: number,
    private readonly region: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async linksFor(runId: string): Promise<ReportLinks> {
    const expiresIn = Math.round(this.expiryHours * 3600);
    const sign = (key: string): Promise<string> =>
      getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key, ResponseContentType: 'text/html; charset=utf-8' }), { expiresIn });
    return {
      report: await sign(this.folder.reportPath(runId, 'html')),
      history: await sign(this.folder.historyPath()),
      folder: consoleFolderLink(this.bucket, this.folder.runPath(runId), this.region),
      expiresAt: new Date(this.now().getTime() + expiresIn * 1000),
    };
  }
}

/** The S3 console's page of one folder of a bucket (the console asks the person to sign in). */
export function consoleFolderLink(bucket: string, prefix: string, region: string): string {
  const query = new URLSearchParams({ region, bucketType: 'general', prefix, showversions: 'false' });
  return `https://console.aws.amazon.com/s3/buckets/${encodeURIComponent(bucket)}?${query.toString()}`;
}
