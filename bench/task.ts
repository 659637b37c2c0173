/**
 * Each measured task runs in a child process of its own, so that its time and its peak RSS
 * (`process.resourceUsage().maxRSS`) are its own and not the benchmark's (which holds the
 * generated data). `runTask` starts the child; run as a script, this file is the child.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Task =
  | { kind: 'walk'; root: string }
  | { kind: 'list'; endpoint: string; bucket: string }
  | { kind: 'copy'; databaseUrl: string }
  | { kind: 'select'; serverUrl: string }
  | {
      kind: 'djgc';
      mode: 'dry-run' | 'collect';
      backend: 'postgresql' | 'mysql';
      databaseUrl: string;
      store: { protocol: 'file'; location: string } | { protocol: 's3'; endpoint: string; bucket: string };
    };

export interface TaskResult {
  ms: number;
  maxRssMiB: number;
  items?: number;
  /** djgc only: wall time of each phase. */
  phases?: { mark: number; sweep: number };
  report?: { stored: number; orphaned: number; referenced: number; references: number; quarantined: number; errors: number; scan_errors: string[] };
}

const self = fileURLToPath(import.meta.url);

export function runTask(task: Task): Promise<TaskResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', self, JSON.stringify(task)], { maxBuffer: 1 << 26, env: process.env }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`bench task ${task.kind} failed: ${error.message}\n${stderr}`));
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as TaskResult);
      } catch {
        reject(new Error(`bench task ${task.kind} printed no result: ${stdout}\n${stderr}`));
      }
    });
  });
}

async function child(task: Task): Promise<TaskResult> {
  const started = performance.now();
  const done = (extra: Omit<TaskResult, 'ms' | 'maxRssMiB'>): TaskResult => ({
    ms: performance.now() - started,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    ...extra,
  });
  switch (task.kind) {
    case 'walk': {
      const { bareWalk } = await import('./floors.js');
      const t = performance.now();
      const r = bareWalk(task.root);
      return { ...done({ items: r.items }), ms: performance.now() - t };
    }
    case 'list': {
      const { bareList } = await import('./floors.js');
      const { s3Client } = await import('./data.js');
      const client = s3Client(task.endpoint);
      const t = performance.now();
      const r = await bareList(client, task.bucket);
      return { ...done({ items: r.items }), ms: performance.now() - t };
    }
    case 'copy': {
      const { bareCopy } = await import('./floors.js');
      const t = performance.now();
      const r = await bareCopy(task.databaseUrl);
      return { ...done({ items: r.items }), ms: performance.now() - t };
    }
    case 'select': {
      const { bareSelect } = await import('./floors.js');
      const t = performance.now();
      const r = await bareSelect(task.serverUrl);
      return { ...done({ items: r.items }), ms: performance.now() - t };
    }
    case 'djgc':
      return djgc(task);
  }
}

async function djgc(task: Extract<Task, { kind: 'djgc' }>): Promise<TaskResult> {
  const { openCatalog } = await import('../functions/catalog/index.js');
  const { normalizeStore } = await import('../functions/config/store.js');
  const { openStore, physicalRoot } = await import('../functions/stores/index.js');
  const { RunFolder } = await import('../functions/engine/run/run-folder.js');
  const { LocalFolderStorage } = await import('../functions/pipeline/local-folder-storage.js');
  const { runLocally } = await import('../functions/engine/run/local.js');
  const { DEFAULT_RUN_OPTIONS } = await import('../functions/engine/model/options.js');
  const { NO_DECLARATIONS } = await import('../functions/engine/model/plan.js');

  const url = new URL(task.databaseUrl);
  const catalog = await openCatalog({
    backend: task.backend,
    host: url.hostname,
    port: Number(url.port),
    user: decodeURIComponent(url.username),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(task.backend === 'postgresql' ? { database: url.pathname.slice(1) } : {}),
    tls: false,
  });
  const spec =
    task.store.protocol === 'file'
      ? normalizeStore('main', { protocol: 'file', location: task.store.location, subfolding: [2, 2] })
      : normalizeStore('main', { protocol: 's3', endpoint: new URL(task.store.endpoint).host, secure: false, bucket: task.store.bucket, access_key: 'test', secret_key: 'test', subfolding: [2, 2] });
  const runs = await mkdtemp(join(tmpdir(), 'djgc-bench-runs-'));
  const at: Record<string, number> = {};
  const started = performance.now();
  try {
    const report = await runLocally(
      {
        catalog,
        stores: { main: spec },
        defaultStore: 'main',
        openStore,
        rootOf: physicalRoot,
        folder: new RunFolder(new LocalFolderStorage(runs)),
        lifecycle: { runTimeoutMinutes: 60, cooldownMinutes: 0, graceFloorHours: 0 },
        declared: NO_DECLARATIONS,
        now: () => new Date(),
        observe: (event) => {
          if (event.type === 'phase') at[event.phase] ??= performance.now();
        },
      },
      // The defaults of `djgc scan --grace 0` / `djgc collect --grace 0 --confirm`.
      { options: { ...DEFAULT_RUN_OPTIONS, graceHours: 0, mode: task.mode } },
    );
    const ms = performance.now() - started;
    const end = at.report ?? performance.now();
    return {
      ms,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      phases: { mark: (at.sweep ?? end) - (at.mark ?? started), sweep: end - (at.sweep ?? end) },
      report: {
        stored: report.stored,
        orphaned: report.orphaned,
        referenced: report.referenced,
        references: report.columns.reduce((n, c) => n + c.references, 0),
        quarantined: report.quarantined,
        errors: report.errors,
        scan_errors: report.scan_errors,
      },
    };
  } finally {
    await catalog.close();
    await rm(runs, { recursive: true, force: true });
  }
}

if (process.argv[1] === self) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const result = await child(JSON.parse(process.argv[2]!) as Task);
  process.stdout.write(`\n${JSON.stringify(result)}\n`);
  process.exit(0);
}
