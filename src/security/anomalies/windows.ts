// In-memory sliding windows for anomaly rules: events per key, distinct values per key, and a
// per-key rate against its own long-run norm. Bounded: at most `cap` entries per key (enough to
// compare with a threshold) and `maxKeys` keys (the least recently seen go first), so an attacker
// rotating addresses cannot grow memory without limit.

const DEFAULT_MAX_KEYS = 50_000;

/** A Map that forgets its least recently touched keys beyond `maxKeys`. */
class RecentMap<V> {
  readonly #entries = new Map<string, V>();
  readonly #maxKeys: number;
  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }
  touch(key: string, create: () => V): V {
    const value = this.#entries.get(key) ?? create();
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#maxKeys) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return value;
  }
}

/** How many events each key had in the last `windowMs` (counted up to `cap`). */
export class EventWindow {
  readonly #keys: RecentMap<number[]>;
  readonly #windowMs: number;
  readonly #cap: number;
  constructor(windowMs: number, cap: number, maxKeys = DEFAULT_MAX_KEYS) {
    this.#windowMs = windowMs;
    this.#cap = cap;
    this.#keys = new RecentMap(maxKeys);
  }
  add(key: string, now = Date.now()): number {
    const times = this.#keys.touch(key, () => []);
    times.push(now);
    while (times.length > 0 && ((times[0] as number) <= now - this.#windowMs || times.length > this.#cap)) times.shift();
    return times.length;
  }
}

/** How many distinct values each key showed in the last `windowMs` (counted up to `cap`). */
export class DistinctWindow {
  readonly #keys: RecentMap<Map<string, number>>;
  readonly #windowMs: number;
  readonly #cap: number;
  constructor(windowMs: number, cap: number, maxKeys = DEFAULT_MAX_KEYS) {
    this.#windowMs = windowMs;
    this.#cap = cap;
    this.#keys = new RecentMap(maxKeys);
  }
  add(key: string, value: string, now = Date.now()): number {
    const seen = this.#keys.touch(key, () => new Map());
    seen.delete(value);
    seen.set(value, now); // insertion order is recency order
    for (const [v, at] of seen) {
      if (at > now - this.#windowMs && seen.size <= this.#cap) break;
      seen.delete(v);
    }
    return seen.size;
  }
}

/**
 * Requests per minute of each key against its own norm: an exponentially weighted mean of its
 * past minutes (weight 1/60, so about the last hour counts), with idle minutes counted as zero.
 */
export class RateNorm {
  readonly #keys: RecentMap<{ minute: number; count: number; norm: number; minutes: number }>;
  constructor(maxKeys = DEFAULT_MAX_KEYS) {
    this.#keys = new RecentMap(maxKeys);
  }
  add(key: string, now = Date.now()): { current: number; norm: number; minutes: number } {
    const minute = Math.floor(now / 60_000);
    const s = this.#keys.touch(key, () => ({ minute, count: 0, norm: 0, minutes: 0 }));
    if (minute > s.minute) {
      const idle = Math.min(minute - s.minute - 1, 600);
      s.norm = s.norm + (s.count - s.norm) / 60;
      s.norm *= (59 / 60) ** idle;
      s.minutes += 1 + idle;
      s.minute = minute;
      s.count = 0;
    }
    s.count++;
    return { current: s.count, norm: s.norm, minutes: s.minutes };
  }
}
