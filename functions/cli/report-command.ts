import { S3Client } from '@aws-sdk/client-s3';
import { resolve } from 'node:path';
import { ConfigurationError } from '../engine/model/errors.js';
import { formatReport, type Report } from '../engine/phases/report.js';
import { RunFolder } from '../engine/run/run-folder.js';
import { LocalFolderStorage } from '../pipeline/local-folder-storage.js';
import { S3FolderStorage } from '../pipeline/s3-folder-storage.js';
import type { Output } from './execute.js';

export interface ReportFlags {
  latest?: boolean;
  bucket?: string;
  runDir: string;
  json?: boolean;
  html?: boolean;
}

/**
 * The run folder `djgc report` reads: a report bucket (the SDK's usual credentials, region and
 * AWS_ENDPOINT_URL; path-style addressing against an emulator), or a local run directory.
 */
export function reportFolder(flags: Pick<ReportFlags, 'bucket' | 'runDir'>, env: NodeJS.ProcessEnv = process.env): RunFolder {
  if (flags.bucket === undefined) return new RunFolder(new LocalFolderStorage(resolve(flags.runDir)));
  const emulated = Boolean(env.AWS_ENDPOINT_URL || env.AWS_ENDPOINT_URL_S3);
  const client = new S3Client({
    forcePathStyle: emulated,
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    followRegionRedirects: true,
  });
  return new RunFolder(new S3FolderStorage(client, flags.bucket));
}

/** Print one run's report (the latest when no run id is given) as text, JSON or the HTML page. */
export async function printReport(folder: RunFolder, runId: string | undefined, flags: ReportFlags, output: Output): Promise<void> {
  if (runId !== undefined && flags.latest) throw new ConfigurationError('give a run id or --latest, not both.');
  if (flags.json && flags.html) throw new ConfigurationError('give --json or --html, not both.');
  const id = runId ?? (await folder.latestRunId());
  if (id === null) throw new ConfigurationError(`no finished run in ${folder.description} yet (latest.json is missing): check --run-dir or --bucket.`);
  const json = await folder.readReportFile(id, 'json');
  if (json === null) {
    throw new ConfigurationError(`run '${id}' has no report in ${folder.description}: it is still running, was never reported, or the id is wrong.`);
  }
  if (flags.json) return output.out(json.endsWith('\n') ? json : `${json}\n`);
  if (flags.html) {
    const html = await folder.readReportFile(id, 'html');
    if (html === null) throw new ConfigurationError(`run '${id}' has no report.html in ${folder.description}.`);
    return output.out(html);
  }
  output.out((await folder.readReportFile(id, 'txt')) ?? formatReport(JSON.parse(json) as Report));
  output.err(`Report of run ${id} in ${folder.description}; the run history is ${folder.description}/${folder.historyPath()}\n`);
}
