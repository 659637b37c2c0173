import type { Move, MoveFailure, MoveOutcome } from '../engine/types.js';

export const MAX_MOVE_BATCH = 1000;

export interface MovePlan {
  /** Moves to carry out, each source and each destination named once. */
  moves: Move[];
  /** Moves refused before touching the store. */
  refused: MoveFailure[];
}

/**
 * Check a batch of moves as a whole: at most MAX_MOVE_BATCH (more throws), identical moves
 * once, and no two moves that would race on one path (a shared source or destination, or one
 * move's destination being another's source). Of conflicting moves only the first is carried out.
 * `invalid` names what is wrong with a single path for this store, or undefined.
 */
export function planMoves(moves: Move[], invalid: (path: string) => string | undefined): MovePlan {
  if (moves.length > MAX_MOVE_BATCH) {
    throw new Error(`moveBatch got ${moves.length} moves; at most ${MAX_MOVE_BATCH} may be moved per call: split the batch.`);
  }
  const seen = new Set<string>();
  const sources = new Set<string>();
  const destinations = new Set<string>();
  const plan: MovePlan = { moves: [], refused: [] };
  for (const move of moves) {
    const id = JSON.stringify([move.from, move.to]);
    if (seen.has(id)) continue;
    seen.add(id);
    const reason = refusal(move, invalid, sources, destinations);
    if (reason) {
      plan.refused.push({ ...move, code: reason.code, message: `Refused to move "${move.from}" to "${move.to}": ${reason.message}.` });
      continue;
    }
    sources.add(move.from);
    destinations.add(move.to);
    plan.moves.push(move);
  }
  return plan;
}

function refusal(
  move: Move,
  invalid: (path: string) => string | undefined,
  sources: Set<string>,
  destinations: Set<string>,
): { code: string; message: string } | undefined {
  const from = invalid(move.from);
  if (from) return { code: 'InvalidPath', message: `the source is invalid (${from})` };
  const to = invalid(move.to);
  if (to) return { code: 'InvalidPath', message: `the destination is invalid (${to})` };
  if (move.from === move.to) return { code: 'InvalidPath', message: 'source and destination are the same path' };
  if (sources.has(move.from) || destinations.has(move.from)) {
    return { code: 'Conflict', message: 'another move in this batch already uses the source; move it in a later batch' };
  }
  if (destinations.has(move.to) || sources.has(move.to)) {
    return { code: 'Conflict', message: 'another move in this batch already uses the destination; move it in a later batch' };
  }
  return undefined;
}

export function emptyMoveOutcome(refused: MoveFailure[] = []): MoveOutcome {
  return { moved: [], missing: [], failed: [...refused] };
}
