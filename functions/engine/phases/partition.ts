import type { MarkResult } from './mark.js';
import { referenceInShard, shardsOf } from './scope.js';
import { readLinesFrom } from '../model/lines.js';
import type { ShardPlan } from '../model/plan.js';
import type { RunFolder } from '../run/run-folder.js';

/** Cut each group into shards and write each shard's references into the run folder. */
export async function partition(marked: MarkResult, maxRefsPerShard: number, folder: RunFolder, runId: string): Promise<ShardPlan[]> {
  const shards: ShardPlan[] = [];
  for (const refs of marked.groups) {
    const parts = shardsOf(refs.group, refs.count, refs.sample, maxRefsPerShard);
    for (const shard of parts) {
      const lines = parts.length === 1 ? readLinesFrom(refs.spill) : filterLines(refs.spill, shard);
      await folder.writeRefs(runId, shard.id, lines);
      shards.push(shard);
    }
  }
  return shards;
}

async function* filterLines(spill: string, shard: ShardPlan): AsyncIterable<string> {
  for await (const line of readLinesFrom(spill)) {
    if (referenceInShard(pathOfLine(line), shard)) yield line;
  }
}

export async function loadShardReferences(folder: RunFolder, runId: string, shardId: string): Promise<Set<string>> {
  const references = new Set<string>();
  for await (const line of folder.readRefs(runId, shardId)) references.add(pathOfLine(line));
  return references;
}

/**
 * A reference line is a JSON string. Without a backslash it holds no escape, so its text between
 * the quotes is the path itself; anything else is parsed, and must be a string.
 */
export function pathOfLine(line: string): string {
  if (line.length >= 2 && line.charCodeAt(0) === 34 && line.charCodeAt(line.length - 1) === 34 && !line.includes('\\')) {
    const inner = line.slice(1, -1);
    if (!inner.includes('"')) return inner;
  }
  const value = JSON.parse(line) as unknown;
  if (typeof value !== 'string') throw new Error(`a reference line is not a JSON string: ${line.slice(0, 80)}`);
  return value;
}
