// The storage under stock oidc-provider's own MemoryAdapter, without its 1,000-entry LRU bound:
// at bench rates the LRU evicts live tokens within a second (replay-detection entries push them
// out) and introspection answers `active: false`. Same adapter code, same per-call work; only
// nothing is evicted before it expires (expired entries are swept every 30 s).
// @ts-expect-error oidc-provider ships no types for its internal adapter module.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

interface Entry {
  value: unknown;
  expiry: number | undefined;
}

class ExpiringMap {
  readonly #entries = new Map<string, Entry>();

  constructor() {
    setInterval(() => {
      const now = Date.now();
      for (const [key, entry] of this.#entries) if (entry.expiry !== undefined && entry.expiry <= now) this.#entries.delete(key);
    }, 30_000).unref();
  }

  get(key: string): unknown {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiry !== undefined && entry.expiry <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: unknown, options?: { maxAge?: number }): void {
    this.#entries.set(key, { value, expiry: options?.maxAge === undefined ? undefined : Date.now() + options.maxAge });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

/** An adapter factory for oidc-provider's `adapter` option. */
export function unboundedMemoryAdapter(clockTolerance = 0): (model: string) => unknown {
  const store = new ExpiringMap();
  return (model) => new MemoryAdapter(model, store, clockTolerance);
}
