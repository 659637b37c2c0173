#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
import { loadDjConfig, DjConfigError, toDatabaseConnection, type DjConfig } from './config/datajoint.js';
import { loadDjgcConfig } from './config/djgc.js';
import { openCatalog } from './catalog/index.js';
import { openStore, physicalRoot } from './stores/index.js';
import { RunFolder } from './engine/run/run-folder.js';
import { LocalFolderStorage } from './pipeline/local-folder-storage.js';
import { ConfigurationError, describeError } from './engine/model/errors.js';
import { DEFAULT_RUN_OPTIONS, GRACE_DEFAULT_HOURS, GRACE_FLOOR_HOURS, RETENTION_DEFAULT_HOURS, type Removal, type RunMode } from './engine/model/options.js';
import { parseDuration } from './cli/duration.js';
import { executeRun } from './cli/execute.js';
import { defaultRunDir } from './cli/run-dir.js';
import { closestCommand } from './cli/suggest.js';
import { restoreQuarantined } from './engine/run/restore.js';
import { runDemo } from './demo/run-demo.js';
import { printReport, reportFolder, type ReportFlags } from './cli/report-command.js';
import { consoleOutput } from './cli/execute.js';

interface CommonFlags {
  schema: string[];
  store?: string;
  /** Hours. */
  grace: number;
  /** Hours. */
  graceFloor: number;
  json: boolean;
  verbose: boolean;
  runDir: string;
  legacyRootLayout: boolean;
  concurrency: number;
  removal: Removal;
  /** Hours. */
  retention: number;
  /** Seconds. */
  transactionWait: number;
  maxOrphanFraction: number;
  minReferenceRatio: number;
  progress: boolean;
  confirm?: boolean;
  approve?: string;
}

const EXIT_ERRORS = 1;
/** From package.json: one level up from the sources, two from the build in dist/. */
function packageVersion(): string {
  const require = createRequire(import.meta.url);
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(path) as { name?: string; version?: string };
      if (pkg.name === 'djgc' && pkg.version) return pkg.version;
    } catch {
      // Not at this level.
    }
  }
  return 'unknown';
}
const VERSION = packageVersion();
/** A local run whose process is gone frees its lock at once; one still running holds it this long at most. */
const LOCAL_RUN_TIMEOUT_MINUTES = 24 * 60;
const EXIT_USAGE = 2;

function fraction(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new InvalidArgumentError('expected a fraction from 0 to 1, e.g. 0.5');
  return value;
}

function positiveInt(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return value;
}

/** A duration on the command line, in hours (the grace period's one unit). */
function hours(text: string): number {
  try {
    return parseDuration(text) / 3_600_000;
  } catch (error) {
    throw new InvalidArgumentError(describeError(error));
  }
}

function withCommonOptions(command: Command): Command {
  return command
    .option('-s, --schema <name>', 'collect this schema (repeat for several); default: every schema with storage columns', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--store <name>', 'collect this store only; default: every configured store')
    .addOption(new Option('--grace <duration>', 'never delete objects younger than this (e.g. 0, 90m, 24h, 7d)').default(GRACE_DEFAULT_HOURS, `${GRACE_DEFAULT_HOURS}h`).argParser(hours))
    .addOption(
      new Option('--grace-floor <duration>', 'refuse to collect with a grace period shorter than this; lower it only on purpose')
        .default(GRACE_FLOOR_HOURS, `${GRACE_FLOOR_HOURS}h`)
        .argParser(hours),
    )
    .option('--json', 'print the report as JSON', false)
    .option('-v, --verbose', 'name every object deleted (collect) or that would be deleted (scan)', false)
    .option('--run-dir <dir>', 'where run folders and reports are written', defaultRunDir())
    .option('--legacy-root-layout', 'also collect schema-addressed objects at the store root, as DataJoint ≤ 2.3.0 wrote them', false)
    .addOption(new Option('--concurrency <n>', 'columns read and shards swept at once').default(4).argParser(positiveInt))
    .addOption(new Option('--removal <how>', 'collect: move orphans to the store\'s quarantine area, or delete them at once').choices(['quarantine', 'delete']).default('quarantine'))
    .addOption(new Option('--retention <duration>', 'quarantined objects are purged by a later collect after this long').default(RETENTION_DEFAULT_HOURS, '7d').argParser(hours))
    .addOption(new Option('--transaction-wait <duration>', 'how long a removal waits for open write transactions before keeping its objects for the next run').default(DEFAULT_RUN_OPTIONS.transactionWaitSeconds, '5m').argParser((t: string) => hours(t) * 3600))
    .addOption(new Option('--max-orphan-fraction <fraction>', 'a shard with more orphans than this fraction of its objects removes nothing (1: no limit)').default(DEFAULT_RUN_OPTIONS.maxOrphanFraction).argParser(fraction))
    .addOption(new Option('--min-reference-ratio <fraction>', 'a run reading fewer references than this fraction of the previous run removes nothing (0: no limit)').default(DEFAULT_RUN_OPTIONS.minReferenceRatio).argParser(fraction))
    .option('--no-progress', 'no progress bars (they are drawn only on a terminal anyway)');
}

async function collectOnConfiguredDatabase(config: DjConfig, flags: CommonFlags, mode: RunMode): Promise<number> {
  const djgc = loadDjgcConfig({ djConfig: config });
  for (const warning of config.warnings) process.stderr.write(`djgc: warning: ${warning}\n`);
  const catalog = await openCatalog(toDatabaseConnection(config.database!), { ignoredDatabases: Object.keys(djgc.ignoredDatabases) });
  try {
    const { exitCode } = await executeRun(
      {
        catalog,
        stores: config.stores,
        defaultStore: config.defaultStore,
        openStore,
        rootOf: physicalRoot,
        folder: new RunFolder(new LocalFolderStorage(resolve(flags.runDir))),
        lifecycle: { runTimeoutMinutes: LOCAL_RUN_TIMEOUT_MINUTES, cooldownMinutes: 0, graceFloorHours: flags.graceFloor },
        declared: { foreignStores: djgc.foreignStores, ignoredSchemas: djgc.ignoredSchemas, ignoredDatabases: djgc.ignoredDatabases },
        prices: djgc.prices,
        now: () => new Date(),
      },
      flags.approve !== undefined
        ? { approveRun: flags.approve, graceHours: flags.grace, concurrency: flags.concurrency, removal: flags.removal }
        : {
            options: {
              ...DEFAULT_RUN_OPTIONS,
              schemas: flags.schema,
              ...(flags.store !== undefined ? { store: flags.store } : {}),
              mode,
              graceHours: flags.grace,
              legacyRootLayout: flags.legacyRootLayout,
              concurrency: flags.concurrency,
              removal: flags.removal,
              retentionHours: flags.retention,
              transactionWaitSeconds: flags.transactionWait,
              maxOrphanFraction: flags.maxOrphanFraction,
              minReferenceRatio: flags.minReferenceRatio,
            },
          },
      { json: flags.json, verbose: flags.verbose, progress: flags.progress && process.stderr.isTTY === true, ...(flags.runDir !== defaultRunDir() ? { runDir: flags.runDir } : {}) },
    );
    return exitCode;
  } finally {
    await catalog.close();
  }
}

async function main(argv: string[]): Promise<number> {
  // The pinned SDK supports Node 20; its notice about future releases is not for djgc's users.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const program = new Command('djgc')
    .description(
      'Find and delete objects in DataJoint object storage that no table row references any more.\n\n' +
        'djgc reads the database and store settings the way DataJoint does: datajoint.json (searched ' +
        'from this folder upward), .secrets/, and the DJ_HOST, DJ_USER, DJ_PASS, DJ_BACKEND, DJ_STORES ' +
        'environment variables. With no database configured, `djgc` runs a demonstration on an ' +
        'embedded PostgreSQL and a local folder.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  djgc scan                               # report orphans; deletes nothing\n' +
        '  djgc scan --schema my_lab --grace 48h   # one schema; keep objects under 48 h old\n' +
        '  djgc collect --schema my_lab            # dry run: shows what would go\n' +
        '  djgc collect --schema my_lab --confirm  # deletes orphans past the grace period\n' +
        '  djgc demo                               # see it work, no set-up needed\n\n' +
        'Every option of a command: djgc scan --help, djgc collect --help.',
    )
    .version(VERSION, '-V, --version', 'print the version of djgc')
    .showHelpAfterError('(run with --help for usage)')
    .allowExcessArguments(true)
    .exitOverride();

  let exitCode = 0;

  withCommonOptions(
    program
      .command('scan')
      .allowExcessArguments(false)
      .description('report orphaned objects; deletes nothing')
      .addHelpText('after', '\nscan never deletes: to delete what it reports, run `djgc collect --confirm`\nwith the same options.\n\nExample:\n  djgc scan --schema my_lab --grace 48h'),
  ).action(async (flags: CommonFlags) => {
    const config = requireDatabase(loadDjConfig());
    exitCode = await collectOnConfiguredDatabase(config, flags, 'dry-run');
  });

  withCommonOptions(
    program
      .command('collect')
      .allowExcessArguments(false)
      .description('delete orphaned objects older than the grace period (a dry run unless --confirm is given)')
      .option('--confirm', 'really delete; without it, collect only reports what it would delete', false)
      .option('--approve <runId>', 'delete exactly the orphans an earlier dry run (in --run-dir) listed, each re-checked first; with --confirm')
      .addHelpText(
        'after',
        '\nExamples:\n  djgc collect --schema my_lab            # dry run: shows what would go\n  djgc collect --schema my_lab --confirm  # deletes\n' +
          '  djgc collect --approve <runId> --confirm  # deletes what a reviewed dry run listed',
      ),
  ).action(async (flags: CommonFlags) => {
    if (flags.approve !== undefined && flags.confirm !== true) {
      throw new ConfigurationError('--approve deletes the approved run\'s orphans: add --confirm to go ahead.');
    }
    const config = requireDatabase(loadDjConfig());
    exitCode = await collectOnConfiguredDatabase(config, flags, flags.confirm === true ? 'collect' : 'dry-run');
  });

  program
    .command('restore')
    .allowExcessArguments(false)
    .description('put back the objects a collect moved to the quarantine area (all of a run, or one path)')
    .argument('<runId>', 'the run that quarantined them (its report names it)')
    .option('--path <path>', 'only this original path, e.g. _hash/my_lab/…')
    .option('--store <name>', 'only this store; default: every configured store')
    .option('--json', 'print what was restored as JSON', false)
    .action(async (runId: string, flags: { path?: string; store?: string; json: boolean }) => {
      const config = loadDjConfig();
      const outcome = await restoreQuarantined(
        { stores: config.stores, defaultStore: config.defaultStore, rootOf: physicalRoot, openStore },
        runId,
        { ...(flags.path !== undefined ? { path: flags.path } : {}), ...(flags.store !== undefined ? { store: flags.store } : {}) },
      );
      if (flags.json) process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
      else {
        for (const path of outcome.restored) process.stdout.write(`restored ${path}\n`);
        for (const [path, why] of Object.entries(outcome.kept)) process.stderr.write(`kept in quarantine ${path}: ${why}\n`);
        process.stdout.write(`${outcome.restored.length} restored, ${Object.keys(outcome.kept).length} kept in quarantine\n`);
      }
      if (Object.keys(outcome.kept).length > 0) exitCode = EXIT_ERRORS;
    });

  program
    .command('report')
    .description('print a finished run\'s report from a local run folder or a report bucket (the latest unless a run id is given)')
    .argument('[runId]', 'the run (its id is in the notification and in latest.json); default: the latest')
    .option('--latest', 'the newest finished run (the default)')
    .option('--bucket <bucket>', 'read the report bucket of a deployed stack (AWS credentials, region and AWS_ENDPOINT_URL as for the AWS CLI)')
    .option('--run-dir <dir>', 'the local run folder to read', defaultRunDir())
    .option('--json', 'print report.json')
    .option('--html', 'print report.html (e.g. > report.html, then open it)')
    .addHelpText(
      'after',
      '\nExamples:\n  djgc report                              # the latest local run, as text\n' +
        '  djgc report --bucket my-djgc-reports --html > report.html\n  djgc report 2026-01-15T03-00-00-000Z-a1b2c3 --json',
    )
    .action(async (runId: string | undefined, flags: ReportFlags) => {
      await printReport(reportFolder(flags), runId, flags, consoleOutput);
    });

  program
    .command('demo')
    .allowExcessArguments(false)
    .description('scan and collect a demonstration schema on an embedded PostgreSQL and a local folder (no setup needed)')
    .option('--dir <dir>', 'folder for the demonstration store and reports', '.djgc-demo')
    .option('--json', 'print the reports as JSON', false)
    .option('-v, --verbose', 'name every object deleted', false)
    .action(async (flags: { dir: string; json: boolean; verbose: boolean }) => {
      exitCode = await runDemo({ dir: resolve(flags.dir), json: flags.json, verbose: flags.verbose });
    });

  program.action(async (_options: unknown, command: Command) => {
    const [word] = command.args;
    if (word !== undefined) {
      const known = program.commands.map((c) => c.name());
      const near = closestCommand(word, known);
      throw new ConfigurationError(`'${word}' is not a djgc command${near ? `: did you mean '${near}'?` : ''} Commands: ${known.join(', ')}.`);
    }
    const config = loadDjConfig();
    if (config.database) {
      process.stderr.write('No command given: running `djgc scan` (nothing is deleted). See `djgc --help`.\n');
      exitCode = await collectOnConfiguredDatabase(
        config,
        {
          schema: [],
          grace: GRACE_DEFAULT_HOURS,
          graceFloor: GRACE_FLOOR_HOURS,
          json: false,
          verbose: false,
          runDir: defaultRunDir(),
          legacyRootLayout: false,
          concurrency: DEFAULT_RUN_OPTIONS.concurrency,
          removal: DEFAULT_RUN_OPTIONS.removal,
          retention: DEFAULT_RUN_OPTIONS.retentionHours,
          transactionWait: DEFAULT_RUN_OPTIONS.transactionWaitSeconds,
          maxOrphanFraction: DEFAULT_RUN_OPTIONS.maxOrphanFraction,
          minReferenceRatio: DEFAULT_RUN_OPTIONS.minReferenceRatio,
          progress: true,
        },
        'dry-run',
      );
    } else {
      process.stderr.write('No database configured (datajoint.json or DJ_HOST): running the demonstration on an embedded PostgreSQL.\n\n');
      exitCode = await runDemo({ dir: resolve('.djgc-demo'), json: false, verbose: false });
    }
  });

  try {
    await program.parseAsync(argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (code?.startsWith('commander.')) return EXIT_USAGE;
    throw error;
  }
  return exitCode;
}

function requireDatabase(config: DjConfig): DjConfig {
  if (!config.database) {
    throw new ConfigurationError(
      'no database configured. Set DJ_HOST (and DJ_USER, DJ_PASS, DJ_BACKEND) or add a "database" block to datajoint.json ' +
        'in this folder or a parent. To see djgc work without a database, run `djgc demo`.',
    );
  }
  return config;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const usage = error instanceof ConfigurationError || error instanceof DjConfigError;
    process.stderr.write(`djgc: ${describeError(error)}\n${usage ? '' : 'Nothing was deleted after this error.\n'}`);
    process.exitCode = usage ? EXIT_USAGE : EXIT_ERRORS;
  },
);
