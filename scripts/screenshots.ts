/**
 * `npm run screenshots [-- --run-dir DIR] [--out DIR]`: PNGs of the latest report.html and of
 * history.html of a run folder, rendered by a headless Chromium. Without --run-dir, the
 * demonstration (embedded PostgreSQL, local store) runs first in a temporary folder and its runs
 * are shown. Needs Chromium (Debian: `apt-get install chromium`; elsewhere set CHROMIUM_PATH).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RunFolder } from '../functions/engine/run/run-folder.js';
import { LocalFolderStorage } from '../functions/pipeline/local-folder-storage.js';
import { runDemo } from '../functions/demo/run-demo.js';
import { chromiumPath, shootPages } from './page-shots.js';

const { values } = parseArgs({ options: { 'run-dir': { type: 'string' }, out: { type: 'string', default: 'screenshots' } } });
const browser = chromiumPath();
if (!browser) {
  process.stderr.write('screenshots: no Chromium found (install the Debian package `chromium`, or set CHROMIUM_PATH).\n');
  process.exit(2);
}
let demoDir: string | undefined;
let runDir = values['run-dir'];
if (runDir === undefined) {
  demoDir = await mkdtemp(join(tmpdir(), 'djgc-screenshots-'));
  process.stderr.write(`screenshots: no --run-dir given, running the demonstration in ${demoDir}\n`);
  const quiet = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    await runDemo({ dir: demoDir, json: false, verbose: false });
  } finally {
    process.stdout.write = quiet;
  }
  runDir = join(demoDir, 'reports');
}
try {
  const folder = new RunFolder(new LocalFolderStorage(resolve(runDir)));
  const latest = await folder.latestRunId();
  if (!latest) throw new Error(`no finished run in ${runDir} (latest.json is missing)`);
  const out = resolve(values.out!);
  await mkdir(out, { recursive: true });
  const shots = await shootPages(
    [
      { name: 'report', file: join(resolve(runDir), folder.reportPath(latest, 'html')) },
      { name: 'history', file: join(resolve(runDir), folder.historyPath()) },
    ],
    out,
    browser,
  );
  for (const shot of shots) process.stdout.write(`${shot.png}: "${shot.title}", ${shot.page.width}×${shot.page.height} px, ${shot.charts.length} chart(s)\n`);
} finally {
  if (demoDir) await rm(demoDir, { recursive: true, force: true });
}
