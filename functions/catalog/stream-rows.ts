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
  let rejectFailed: (error: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    rejectFailed = reject;
  });
  failed.catch(() => undefined);
  const unwatch = watch((error) => {
    failure ??= error instanceof Error ? error : new Error(String(error));
    rejectFailed(failure);
  });
  const iterator = rows[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (failure) throw failure;
      const next = await Promise.race([iterator.next(), failed]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    unwatch();
  }
}
