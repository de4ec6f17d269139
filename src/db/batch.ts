// Micro-batching: calls made while the event loop handles one round of I/O are sent to the
// database together, as one statement, when that round ends (setImmediate). Under load, requests
// that reach the same step at once share one round trip; alone, a call waits one loop turn.
// On the bench machine a round trip's socket write was the largest single cost in a profile of
// the code flow (docs/performance.md), so fewer, larger statements are cheaper for Node and for
// PostgreSQL alike.

type Waiting<T, R> = { item: T; resolve: (r: R) => void; reject: (err: unknown) => void };

/**
 * `run` receives up to `max` queued items and returns their results in order. It must be one
 * statement (all or nothing): when a batch of several fails, each item is tried again on its
 * own, so one caller's bad value fails that caller only, as it would unbatched.
 */
export function batcher<T, R>(run: (items: T[]) => Promise<R[]>, max = 32): (item: T) => Promise<R> {
  let queue: Waiting<T, R>[] = [];
  const send = (batch: Waiting<T, R>[]) =>
    run(batch.map((b) => b.item)).then(
      (results) => {
        for (const [j, b] of batch.entries()) b.resolve(results[j] as R);
      },
      (err) => {
        if (batch.length === 1) batch[0]?.reject(err);
        else for (const b of batch) void send([b]);
      },
    );
  const flush = () => {
    const all = queue;
    queue = [];
    for (let i = 0; i < all.length; i += max) void send(all.slice(i, i + max));
  };
  return (item) =>
    new Promise<R>((resolve, reject) => {
      if (queue.length === 0) setImmediate(flush);
      queue.push({ item, resolve, reject });
    });
}

/** "($1, $2), ($3, $4)" for `rows` rows of `columns` placeholders, numbered from `from`. */
export function valuesList(rows: number, columns: number, from = 1, casts: string[] = []): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let c = 0; c < columns; c++) cells.push(`$${from + r * columns + c}${casts[c] ?? ''}`);
    out.push(`(${cells.join(', ')})`);
  }
  return out.join(', ');
}
