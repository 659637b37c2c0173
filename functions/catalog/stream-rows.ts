/**
 * Yields the items of `rows` until it ends, and throws as soon as `watch` reports a
 * failure, even when `rows` itself would never settle: both drivers can leave a row
 * stream pending forever when the connection under it dies. `watch` registers its
 * listeners and returns a function that removes them.
 */
export async function* rowsUntilFailure<T>(
  rows: AsyncIterable<T>,
  watch: (fail: (error: unknown) => void) => () => void,
): AsyncGenerator<T> {
  let failure: Error | undefined;
  // Only the pending step listens for a failure: racing every step against one long-lived
  // promise would keep a reaction per row alive until the stream ends.
  let failStep: ((error: Error) => void) | undefined;
  const unwatch = watch((error) => {
    failure ??= error instanceof Error ? error : new Error(String(error));
    failStep?.(failure);
  });
  const iterator = rows[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (failure) throw failure;
      const next = await new Promise<IteratorResult<T>>((resolve, reject) => {
        failStep = reject;
        iterator.next().then(resolve, reject);
      });
      failStep = undefined;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    failStep = undefined;
    unwatch();
  }
}
