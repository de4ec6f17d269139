// What the demo TPP remembers between sending the browser to the bank and the browser coming
// back: kept in this process's memory, keyed by a random cookie, single use, short-lived. A real
// TPP would keep it in its session store; the demo runs in one development process.
import { randomBytes } from 'node:crypto';
import type { Flow } from './flows.ts';

export interface PendingFlow {
  flow: Flow;
  state: string;
  codeVerifier: string;
  /** The DPoP key the tokens will be bound to (dpop_jkt at PAR, proofs at the token endpoint). */
  dpopKeys: CryptoKeyPair;
}

export interface PendingFlows {
  /** Remembers a flow; returns the random id to put in the browser's cookie. */
  put(flow: PendingFlow): string;
  /** The flow of this id, removed so that a callback cannot be replayed; undefined when unknown or expired. */
  take(id: string | undefined): PendingFlow | undefined;
}

const ID = /^[A-Za-z0-9_-]{43}$/;

export function createPendingFlows(ttlSeconds: number, maxEntries = 1000): PendingFlows {
  const entries = new Map<string, { flow: PendingFlow; expiresAt: number }>();
  const sweep = (now: number) => {
    for (const [id, entry] of entries) if (entry.expiresAt <= now) entries.delete(id);
    // Insertion order is age order: drop the oldest when a flood of starts fills the map.
    while (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
  };
  return {
    put(flow) {
      const now = Date.now();
      sweep(now);
      const id = randomBytes(32).toString('base64url');
      entries.set(id, { flow, expiresAt: now + ttlSeconds * 1000 });
      return id;
    },
    take(id) {
      if (!id || !ID.test(id)) return undefined;
      const entry = entries.get(id);
      entries.delete(id);
      return entry && entry.expiresAt > Date.now() ? entry.flow : undefined;
    },
  };
}
