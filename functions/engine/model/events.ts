/** What a run tells whoever watches it (a progress bar, a logger). */
export type RunEvent =
  | { type: 'phase'; phase: 'plan' | 'mark' | 'sweep' | 'delete' | 'report'; detail?: string; columns?: number }
  | { type: 'column-read'; column: string; references: number }
  | { type: 'shards-planned'; shards: number }
  | { type: 'listed'; shard: string; objects: number }
  | { type: 'shard-listed'; shard: string; orphans: number }
  | { type: 'deleted'; shard: string; paths: string[]; bytes: number; how: 'quarantined' | 'deleted' | 'purged' }
  | { type: 'saved'; shard: string; paths: string[] }
  | { type: 'shard-done'; shard: string }
  | { type: 'error'; scope: string; message: string };

export type RunObserver = (event: RunEvent) => void;

export const ignoreEvents: RunObserver = () => undefined;
