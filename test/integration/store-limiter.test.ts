import { describe, expect, it } from 'vitest';
import { AdaptiveLimit } from '../../functions/stores/index.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('AdaptiveLimit (the per-store request limit)', () => {
  it('Given a limit of 4, when 10 tasks run, then at most 4 are in flight at once', async () => {
    const limit = new AdaptiveLimit({ min: 1, max: 4 });
    let inFlight = 0;
    let peak = 0;

    await Promise.all(
      Array.from({ length: 10 }, () =>
        limit.run(async () => {
          peak = Math.max(peak, ++inFlight);
          await tick();
          inFlight--;
        }, () => false),
      ),
    );

    expect(peak).toBe(4);
    expect(limit.state()).toMatchObject({ limit: 4, lowest: 4, throttled: 0, inFlight: 0, waiting: 0 });
  });

  it('Given throttled requests, then the limit halves down to the minimum and grows back by one per clean request', async () => {
    const limit = new AdaptiveLimit({ min: 2, max: 16 });
    const throttled = () => limit.run(async () => undefined, () => true);
    const clean = () => limit.run(async () => undefined, () => false);

    await throttled();
    expect(limit.state().limit).toBe(8);
    await throttled();
    await throttled();
    await throttled();
    expect(limit.state()).toMatchObject({ limit: 2, lowest: 2, throttled: 4 });
    await clean();
    await clean();
    expect(limit.state().limit).toBe(4);
    for (let i = 0; i < 20; i++) await clean();
    expect(limit.state()).toMatchObject({ limit: 16, lowest: 2 });
  });

  it('Given a failing task, then its error is passed on and the classifier sees it', async () => {
    const limit = new AdaptiveLimit({ max: 2 });
    const seen: unknown[] = [];

    await expect(limit.run(async () => Promise.reject(new Error('SlowDown')), ({ error }) => (seen.push(error), true))).rejects.toThrow('SlowDown');
    expect(seen).toHaveLength(1);
    expect(limit.state()).toMatchObject({ limit: 1, throttled: 1, inFlight: 0 });
  });

  it('Given bad bounds, then construction fails naming them', () => {
    expect(() => new AdaptiveLimit({ min: 0 })).toThrow(/minimum is 0/);
    expect(() => new AdaptiveLimit({ min: 4, max: 2 })).toThrow(/maximum is 2/);
  });
});
