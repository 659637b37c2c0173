import { runCollection, type RunDependencies } from '../engine/run.js';
import { formatReport, type Report } from '../engine/report.js';
import { DEFAULT_OPTIONS, type RunOptions } from '../engine/plan.js';
import type { RunFolder } from '../engine/run-folder.js';
import { consoleObserver } from './progress.js';

export interface OutputFlags {
  json: boolean;
  verbose: boolean;
  progress: boolean;
  /** `collect` was asked for without the confirmation flag. */
  unconfirmedCollect?: boolean;
}

export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const consoleOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export type CommandOptions = RunOptions & { approveRun?: string };

export function runOptions(partial: Partial<CommandOptions>): CommandOptions {
  return { ...DEFAULT_OPTIONS, ...partial };
}

/** Run one collection with console progress, print the report, and return the exit status. */
export async function executeRun(
  deps: Omit<RunDependencies, 'observe'>,
  options: CommandOptions,
  flags: OutputFlags,
  output: Output = consoleOutput,
): Promise<{ report: Report; exitCode: number }> {
  const watcher = consoleObserver({ progress: flags.progress, verbose: flags.verbose, deleting: options.deleteObjects, write: (line) => output.err(`${line}\n`) });
  let report: Report;
  try {
    report = await runCollection({ ...deps, observe: watcher.observe }, options);
  } finally {
    watcher.stop();
  }
  if (flags.verbose && report.dry_run) await listOrphans(deps.folder, report, output);
  if (flags.json) output.out(`${JSON.stringify(report, null, 2)}\n`);
  else {
    output.out(formatReport(report));
    output.out(`\nFull report: ${deps.folder.description}/runs/${report.run_id}/report.json\n`);
    if (flags.unconfirmedCollect && report.orphaned > 0) {
      output.out(`This was a dry run. To delete these ${report.orphaned} objects, run the same command with --confirm.\n`);
    }
  }
  return { report, exitCode: report.errors.length > 0 ? 1 : 0 };
}

async function listOrphans(folder: RunFolder, report: Report, output: Output): Promise<void> {
  for (const list of report.orphan_lists) {
    for await (const line of folder.readLines(list)) {
      const orphan = JSON.parse(line) as { path: string; size: number; lastModified: string };
      output.err(`would delete ${orphan.path} (${orphan.size} B, modified ${orphan.lastModified})\n`);
    }
  }
}
