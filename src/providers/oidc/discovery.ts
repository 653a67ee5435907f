import type { ServerMetadata } from 'openid-client';
import { systemClock, type Clock } from '../../schedule/clock.js';

/**
 * Issuer metadata, discovered once per issuer and reused by every AccessToken that
 * names it. Only the metadata is cached, not a client Configuration: building one per
 * call is cheap, and it means a rotated client secret is picked up at once without
 * keeping secrets in a cache key.
 */
export interface DiscoveryCache {
  /** cached metadata for `issuerUrl`, or `load()`'s result; failures are not cached */
  get(issuerUrl: string, load: () => Promise<ServerMetadata>): Promise<ServerMetadata>;
  /** forget one issuer (or all), e.g. after its endpoints moved */
  clear(issuerUrl?: string): void;
}

export interface DiscoveryCacheOptions {
  clock?: Clock;
  /** how long a discovered document is trusted; endpoints rarely move */
  ttlMs?: number;
}

const DEFAULT_TTL_MS = 60 * 60 * 1000;

export function createDiscoveryCache(opts: DiscoveryCacheOptions = {}): DiscoveryCache {
  const clock = opts.clock ?? systemClock;
  const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
  const entries = new Map<string, { loadedAtMs: number; metadata: Promise<ServerMetadata> }>();
  return {
    get(issuerUrl, load) {
      const now = clock.now().getTime();
      const hit = entries.get(issuerUrl);
      if (hit && now - hit.loadedAtMs < ttlMs) return hit.metadata;
      // concurrent callers share one in-flight discovery
      const metadata = load();
      const entry = { loadedAtMs: now, metadata };
      entries.set(issuerUrl, entry);
      metadata.catch(() => {
        if (entries.get(issuerUrl) === entry) entries.delete(issuerUrl);
      });
      return metadata;
    },
    clear(issuerUrl) {
      if (issuerUrl === undefined) entries.clear();
      else entries.delete(issuerUrl);
    },
  };
}

/** The process-wide cache createOidcProvider uses unless given another. */
export const sharedDiscoveryCache: DiscoveryCache = createDiscoveryCache();
