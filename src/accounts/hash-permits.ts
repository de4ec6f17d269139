// How many password hashes may run at once, for the whole server. argon2id is CPU-bound (about
// 22 ms of a core per hash at the OWASP parameters): hashes beyond cores - 1 take the last core
// from token signing and every other request (docs/performance.md: signing p99 15 ms alone, 63 ms
// with both cores hashing, 24 ms with one). In one process a local queue keeps the count; under
// node:cluster the workers borrow permits from the primary over IPC, so two workers on two cores
// still hash one at a time, not one each.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';

/** Runs `work` once a permit is free; the permit is returned when it settles. */
export type Permits = <T>(work: () => Promise<T>) => Promise<T>;

/** The default allowance: every core but one, at least one. */
export const defaultHashPermits = (): number => Math.max(1, availableParallelism() - 1);

/** First come, first served permits; `grant` is called when a waiter gets one. */
export class PermitPool<Holder> {
  #free: number;
  readonly #waiting: { holder: Holder; grant: () => void }[] = [];
  readonly #held = new Map<Holder, number>();

  constructor(size: number) {
    this.#free = size;
  }

  acquire(holder: Holder, grant: () => void): void {
    if (this.#free > 0) this.#give(holder, grant);
    else this.#waiting.push({ holder, grant });
  }

  release(holder: Holder): void {
    const held = this.#held.get(holder) ?? 0;
    if (held === 0) return; // not this holder's to return (a late message from a dead worker)
    if (held === 1) this.#held.delete(holder);
    else this.#held.set(holder, held - 1);
    this.#free++;
    this.#next();
  }

  /** A holder gone (a worker that exited): its permits come back, its waiters are dropped. */
  forget(holder: Holder): void {
    this.#free += this.#held.get(holder) ?? 0;
    this.#held.delete(holder);
    for (let i = this.#waiting.length - 1; i >= 0; i--) if (this.#waiting[i]?.holder === holder) this.#waiting.splice(i, 1);
    this.#next();
  }

  get free(): number {
    return this.#free;
  }

  #give(holder: Holder, grant: () => void): void {
    this.#free--;
    this.#held.set(holder, (this.#held.get(holder) ?? 0) + 1);
    grant();
  }

  #next(): void {
    while (this.#free > 0 && this.#waiting.length) {
      const { holder, grant } = this.#waiting.shift() as { holder: Holder; grant: () => void };
      this.#give(holder, grant);
    }
  }
}

/** Permits counted in this process alone. */
export function localPermits(size: number): Permits {
  const pool = new PermitPool<symbol>(size);
  return async (work) => {
    const me = Symbol('hash');
    await new Promise<void>((resolve) => pool.acquire(me, resolve));
    try {
      return await work();
    } finally {
      pool.release(me);
    }
  };
}

const ACQUIRE = 'portcullis:hash-acquire';
const GRANTED = 'portcullis:hash-granted';
const RELEASE = 'portcullis:hash-release';
type PermitMessage = { type: typeof ACQUIRE | typeof GRANTED | typeof RELEASE; id: number };
const isPermitMessage = (message: unknown): message is PermitMessage =>
  typeof message === 'object' && message !== null && typeof (message as PermitMessage).id === 'number';

/** In a cluster worker: permits borrowed from the primary (see servePermits). */
export function clusterPermits(): Permits {
  let next = 0;
  const granted = new Map<number, () => void>();
  process.on('message', (message: unknown) => {
    if (!isPermitMessage(message) || message.type !== GRANTED) return;
    granted.get(message.id)?.();
    granted.delete(message.id);
  });
  const send = (message: PermitMessage) => {
    try {
      process.send?.(message);
    } catch {
      // The primary is gone: this worker is being stopped, nothing to return the permit to.
    }
  };
  return async (work) => {
    const id = next++;
    await new Promise<void>((resolve) => {
      granted.set(id, resolve);
      send({ type: ACQUIRE, id });
    });
    try {
      return await work();
    } finally {
      send({ type: RELEASE, id });
    }
  };
}

/** In the cluster primary: hands out `size` permits to the workers; a dead worker's come back. */
export function servePermits(size: number): PermitPool<number> {
  const pool = new PermitPool<number>(size);
  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isPermitMessage(message)) return;
    if (message.type === ACQUIRE) {
      pool.acquire(worker.id, () => {
        if (worker.isConnected()) worker.send({ type: GRANTED, id: message.id });
        else pool.release(worker.id);
      });
    } else if (message.type === RELEASE) {
      pool.release(worker.id);
    }
  });
  cluster.on('exit', (worker: Worker) => pool.forget(worker.id));
  return pool;
}

/** Permits for this process: the primary's when it is a cluster worker told so, else local ones. */
export function hashPermits(size: number): Permits {
  return cluster.isWorker && process.env.PORTCULLIS_HASH_PERMITS === 'cluster' ? clusterPermits() : localPermits(size);
}
