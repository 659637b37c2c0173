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
    if (referenceInShard(JSON.parse(line) as string, shard)) yield line;
  }
}

export async function loadShardReferences(folder: RunFolder, runId: string, shardId: string): Promise<Set<string>> {
  const references = new Set<string>();
  for await (const line of folder.readRefs(runId, shardId)) references.add(JSON.parse(line) as string);
  return references;
}
