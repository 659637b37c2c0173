/**
 * A concurrency limit that adapts to throttling: it halves when a request is throttled and
 * grows back by one per request that went through cleanly, between `min` and `max`.
 * Requests wait in arrival order for a free slot.
 */
export interface AdaptiveLimitOptions {
  /** Lowest limit (at least 1). */
  min?: number;
  /** Highest limit, also the starting one. */
  max?: number;
}

export interface AdaptiveLimitState {
  /** Requests allowed in flight now. */
  limit: number;
  min: number;
  max: number;
  /** The lowest the limit has been. */
  lowest: number;
  /** Requests reported as throttled. */
  throttled: number;
  inFlight: number;
  waiting: number;
}

export class AdaptiveLimit {
  readonly min: number;
  readonly max: number;
  private current: number;
  private lowest: number;
  private throttledCount = 0;
  private inFlight = 0;
  private readonly queue: (() => void)[] = [];

  constructor(options: AdaptiveLimitOptions = {}) {
    const min = options.min ?? 1;
    const max = options.max ?? 32;
    if (!Number.isInteger(min) || min < 1) throw new Error(`Concurrency minimum is ${min}: use an integer of at least 1.`);
    if (!Number.isInteger(max) || max < min) throw new Error(`Concurrency maximum is ${max}: use an integer of at least the minimum (${min}).`);
    this.min = min;
    this.max = max;
    this.current = max;
    this.lowest = max;
  }

  /**
   * Run `task` when a slot is free. `isThrottled` tells from the task's result or error whether the
   * service pushed back; the limit shrinks or grows accordingly. The task's result or error is passed on.
   */
  async run<T>(task: () => Promise<T>, isThrottled: (outcome: { value?: T; error?: unknown }) => boolean): Promise<T> {
    await this.acquire();
    let throttled = false;
    try {
      const value = await task();
      throttled = isThrottled({ value });
      return value;
    } catch (error) {
      throttled = isThrottled({ error });
      throw error;
    } finally {
      this.record(throttled);
      this.release();
    }
  }

  state(): AdaptiveLimitState {
    return {
      limit: this.current,
      min: this.min,
      max: this.max,
      lowest: this.lowest,
      throttled: this.throttledCount,
      inFlight: this.inFlight,
      waiting: this.queue.length,
    };
  }

  private record(throttled: boolean): void {
    if (throttled) {
      this.throttledCount++;
      this.current = Math.max(this.min, Math.floor(this.current / 2));
      this.lowest = Math.min(this.lowest, this.current);
    } else if (this.current < this.max) {
      this.current++;
    }
  }

  private acquire(): Promise<void> {
    if (this.inFlight < this.current && this.queue.length === 0) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    this.inFlight--;
    while (this.inFlight < this.current && this.queue.length > 0) {
      this.inFlight++;
      this.queue.shift()!();
    }
  }
}
