import cliProgress from 'cli-progress';
import type { RunEvent, RunObserver } from '../engine/model/events.js';
import type { RunMode } from '../engine/model/options.js';

export interface ConsoleObserverOptions {
  /** Draw progress bars (only on a terminal). */
  progress: boolean;
  /** Name every deleted (and re-check-saved) object. */
  verbose: boolean;
  /** A dry run draws no deleting bar. */
  mode: RunMode;
  write: (line: string) => void;
}

/** Progress bars on stderr for listing and deleting, and the lines `--verbose` asks for. */
export function consoleObserver(options: ConsoleObserverOptions): { observe: RunObserver; stop: () => void } {
  let bars: cliProgress.MultiBar | undefined;
  let listed: cliProgress.SingleBar | undefined;
  let reading: cliProgress.SingleBar | undefined;
  let referencesRead = 0;
  let deleted: cliProgress.SingleBar | undefined;
  let listedCount = 0;
  let orphans = 0;
  let deletedCount = 0;

  const ensureBars = (): void => {
    if (!options.progress || bars) return;
    bars = new cliProgress.MultiBar(
      {
        clearOnComplete: false,
        hideCursor: true,
        format: ' {label} {bar} {value}/{total} {unit}',
        barsize: 25,
        formatValue: (value, _options, type) => (type === 'value' || type === 'total' ? value.toLocaleString('en-US') : String(value)),
        // Logged lines are written over the bars; a bar whose text did not change would otherwise stay blank.
        forceRedraw: true,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
  };

  const listedUnit = (): string => `shards, ${listedCount.toLocaleString('en-US')} objects, ${orphans.toLocaleString('en-US')} orphans`;

  const log = (line: string): void => {
    if (bars) bars.log(`${line}\n`);
    else options.write(line);
  };

  const observe = (event: RunEvent): void => {
    switch (event.type) {
      case 'phase':
        if (event.phase === 'mark' && event.columns !== undefined) {
          ensureBars();
          reading = bars?.create(event.columns, 0, { label: 'reading ', unit: 'columns, 0 references' });
        }
        break;
      case 'column-read':
        referencesRead += event.references;
        reading?.increment({ unit: `columns, ${referencesRead.toLocaleString('en-US')} references` });
        break;
      case 'shards-planned':
        ensureBars();
        listed = bars?.create(event.shards, 0, { label: 'listing ', unit: 'shards' });
        break;
      case 'listed':
        listedCount += event.objects;
        listed?.update({ unit: listedUnit() });
        break;
      case 'shard-listed':
        orphans += event.orphans;
        listed?.increment({ unit: listedUnit() });
        // Created once there is something to delete: an empty bar would be drawn full.
        if (bars && !deleted && orphans > 0 && options.mode === 'collect') deleted = bars.create(orphans, deletedCount, { label: 'deleting', unit: 'objects' });
        deleted?.setTotal(orphans);
        break;
      case 'deleted':
        deletedCount += event.paths.length;
        deleted?.update(deletedCount);
        if (options.verbose) for (const path of event.paths) log(`${event.how} ${path}`);
        break;
      case 'saved':
        if (options.verbose) for (const path of event.paths) log(`kept ${path}: referenced again at the re-check`);
        break;
      case 'error':
        log(`error: ${event.message}`);
        break;
      default:
        break;
    }
  };

  return {
    observe,
    stop: () => {
      // MultiBar.stop() drops lines logged since the last redraw; a redraw writes them out first.
      bars?.update();
      bars?.stop();
      bars = undefined;
    },
  };
}
