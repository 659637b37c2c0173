import { runLocally, type LocalDependencies } from '../engine/run/local.js';
import { formatReport, type Report } from '../engine/phases/report.js';
import type { RunRequest } from '../engine/run/scanner.js';
import type { RunFolder } from '../engine/run/run-folder.js';
import type { Orphan } from '../engine/model/results.js';
import { consoleObserver } from './progress.js';

export interface OutputFlags {
  json: boolean;
  verbose: boolean;
  progress: boolean;
  /** Named in the hint when it is not the default. */
  runDir?: string;
}

export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const consoleOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Run one collection with console progress, print the report, and return the exit status. */
export async function executeRun(
  deps: Omit<LocalDependencies, 'observe'>,
  request: RunRequest,
  flags: OutputFlags,
  output: Output = consoleOutput,
): Promise<{ report: Report; exitCode: number }> {
  const watcher = consoleObserver({ progress: flags.progress, verbose: flags.verbose, mode: 'options' in request ? request.options.mode : 'collect', write: (line) => output.err(`${line}\n`) });
  let report: Report;
  try {
    report = await runLocally({ ...deps, observe: watcher.observe }, request);
  } finally {
    watcher.stop();
  }
  if (flags.verbose && report.dry_run) await listOrphans(deps.folder, report, output);
  if (flags.json) output.out(`${JSON.stringify(report, null, 2)}\n`);
  else {
    output.out(formatReport(report));
    output.out(`\nFull report: ${deps.folder.reportLocation(report.run_id)}\n`);
    if (report.dry_run && report.orphaned > 0 && report.errors === 0) {
      output.out(
        `This was a dry run. To remove exactly these ${report.orphaned} objects after review (each re-checked first): ` +
          `djgc collect --approve ${report.run_id} --confirm${flags.runDir ? ` --run-dir ${flags.runDir}` : ''}\n`,
      );
    }
  }
  return { report, exitCode: report.errors > 0 ? 1 : 0 };
}

async function listOrphans(folder: RunFolder, report: Report, output: Output): Promise<void> {
  for (const shard of report.shards) {
    if (!shard.listing_complete || shard.kind === 'purge') continue;
    for await (const line of folder.readOrphans(report.run_id, shard.id)) {
      const orphan = JSON.parse(line) as Orphan;
      output.out(`would remove ${orphan.path} (${orphan.size} B, modified ${orphan.lastModified})\n`);
    }
  }
}
