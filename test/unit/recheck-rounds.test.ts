/**
 * Re-check rounds shared by the removal batches in flight: fewer rounds, and never an answer older
 * than the request. The database here is a set of reference paths the test changes; each round
 * reads it when it starts, as a query reads the rows committed when it starts.
 */
import { describe, expect, it } from 'vitest';
import { sharedRecheck, type Recheck } from '../../functions/engine/phases/recheck.js';

function database() {
  const references = new Set<string>();
  const rounds: { paths: string[]; inFlight: boolean; release: () => void }[] = [];
  const recheck: Recheck = (paths, options = {}) => {
    // The round reads the rows as they are when it starts.
    const seen = new Set(paths.filter((p) => references.has(p)));
    return new Promise((resolve) => rounds.push({ paths, inFlight: options.inFlight === true, release: () => resolve(seen) }));
  };
  return { references, rounds, recheck };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('shared re-check rounds', () => {
  it('Given four batches asking at once, When their re-checks run, Then one round answers all of them, and requests with rows in flight get their own round', async () => {
    const db = database();
    const shared = sharedRecheck(db.recheck);
    db.references.add('b/2');
    const asked = [shared(['a/1']), shared(['b/2']), shared(['c/3']), shared(['d/4'], { inFlight: true })];
    await turn();
    expect(db.rounds.map((r) => [r.paths, r.inFlight])).toEqual([
      [['a/1', 'b/2', 'c/3'], false],
      [['d/4'], true],
    ]);
    db.rounds.forEach((r) => r.release());
    const [a, b, c, d] = await Promise.all(asked);
    expect([...a!]).toEqual(['b/2']);
    expect(b!.has('b/2')).toBe(true);
    expect(c).toBe(a);
    expect(d!.size).toBe(0);
  });

  it('Given a round under way, When a batch asks after a reference to its object was committed, Then it is answered by a later round that sees the reference, not by the one under way', async () => {
    const db = database();
    const shared = sharedRecheck(db.recheck);
    const first = shared(['a/1']);
    await turn();
    expect(db.rounds).toHaveLength(1);
    // Committed after the first round began: that round cannot see it.
    db.references.add('x/9');
    const late = shared(['x/9']);
    const later = shared(['y/8']);
    await turn();
    expect(db.rounds).toHaveLength(1);
    db.rounds[0]!.release();
    expect((await first).size).toBe(0);
    await turn();
    expect(db.rounds).toHaveLength(2);
    expect(db.rounds[1]!.paths).toEqual(['x/9', 'y/8']);
    db.rounds[1]!.release();
    expect((await late).has('x/9')).toBe(true);
    expect((await later).has('x/9')).toBe(true);
  });

  it('Given a round that fails, When it ends, Then every request of that round fails and the next round still runs', async () => {
    let calls = 0;
    const shared = sharedRecheck(async (paths) => {
      calls++;
      if (calls === 1) throw new Error('connection lost');
      return new Set(paths);
    });
    const failed = Promise.allSettled([shared(['a']), shared(['b'])]);
    expect((await failed).map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect([...(await shared(['c']))]).toEqual(['c']);
  });
});
