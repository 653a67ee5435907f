import type { ServerMetadata } from 'openid-client';
import { systemClock, type Clock } from '../schedule/clock.js';

/**
 * Issuer metadata, discovered once per issuer and reused by every AccessToken that
 * names it (the OAuth2 providers: oidc, client-credentials). Only the metadata is cached, not a client Configuration: building one per
 * call is cheap, and it means a rotated client secret is picked up at once without
 * keeping secrets in a cache key.
 *
 * The issuer URL is a namespace user's input, so the cache is bounded: it keeps only the fields
 * the operator uses (issuer, token, revocation, userinfo and introspection endpoints, each a URL of bounded length), at
 * most `maxEntries` issuers and `maxBytes` in all, evicting the least recently used.
 */
export interface DiscoveryCache {
  /** cached metadata for `issuerUrl`, or `load()`'s result; failures are not cached */
  get(issuerUrl: string, load: () => Promise<ServerMetadata>): Promise<ServerMetadata>;
  /** forget one issuer (or all), e.g. after its endpoints moved */
  clear(issuerUrl?: string): void;
  /** issuers held, and the characters their keys and fields take */
  readonly size: { entries: number; bytes: number };
}

export interface DiscoveryCacheOptions {
  clock?: Clock;
  /** how long a discovered document is trusted; endpoints rarely move */
  ttlMs?: number;
  maxEntries?: number;
  maxBytes?: number;
}

const DEFAULT_TTL_MS = 60 * 60 * 1000;
export const DEFAULT_MAX_ISSUERS = 1024;
export const DEFAULT_MAX_DISCOVERY_BYTES = 2 * 1024 * 1024;

/** The metadata fields refresh, revoke and the liveness check use; everything else a document carries is dropped. */
export function usedMetadata(m: ServerMetadata): ServerMetadata {
  return {
    issuer: m.issuer,
    ...(typeof m.token_endpoint === 'string' ? { token_endpoint: m.token_endpoint } : {}),
    ...(typeof m.revocation_endpoint === 'string' ? { revocation_endpoint: m.revocation_endpoint } : {}),
    ...(typeof m.userinfo_endpoint === 'string' ? { userinfo_endpoint: m.userinfo_endpoint } : {}),
    ...(typeof m.introspection_endpoint === 'string' ? { introspection_endpoint: m.introspection_endpoint } : {}),
  };
}

interface Entry {
  loadedAtMs: number;
  metadata: Promise<ServerMetadata>;
  bytes: number;
}

export function createDiscoveryCache(opts: DiscoveryCacheOptions = {}): DiscoveryCache {
  const clock = opts.clock ?? systemClock;
  const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ISSUERS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_DISCOVERY_BYTES;
  // Map order is recency: a hit moves the entry to the end, eviction takes from the front
  const entries = new Map<string, Entry>();
  let bytes = 0;

  const drop = (key: string) => {
    const e = entries.get(key);
    if (!e) return;
    bytes -= e.bytes;
    entries.delete(key);
  };
  const fit = () => {
    while (entries.size > maxEntries || bytes > maxBytes) {
      const oldest = entries.keys().next();
      if (oldest.done) break;
      drop(oldest.value);
    }
  };

  return {
    get(issuerUrl, load) {
      const now = clock.now().getTime();
      const hit = entries.get(issuerUrl);
      if (hit && now - hit.loadedAtMs < ttlMs) {
        entries.delete(issuerUrl);
        entries.set(issuerUrl, hit);
        return hit.metadata;
      }
      drop(issuerUrl);
      // concurrent callers share one in-flight discovery
      const metadata = load().then(usedMetadata);
      const entry: Entry = { loadedAtMs: now, metadata, bytes: issuerUrl.length };
      entries.set(issuerUrl, entry);
      bytes += entry.bytes;
      fit();
      metadata.then(
        (m) => {
          if (entries.get(issuerUrl) !== entry) return;
          const size =
            issuerUrl.length +
            m.issuer.length +
            (m.token_endpoint?.length ?? 0) +
            (m.revocation_endpoint?.length ?? 0) +
            (m.userinfo_endpoint?.length ?? 0) +
            (m.introspection_endpoint?.length ?? 0);
          bytes += size - entry.bytes;
          entry.bytes = size;
          fit();
        },
        () => {
          if (entries.get(issuerUrl) === entry) drop(issuerUrl);
        },
      );
      return metadata;
    },
    clear(issuerUrl) {
      if (issuerUrl === undefined) {
        entries.clear();
        bytes = 0;
      } else drop(issuerUrl);
    },
    get size() {
      return { entries: entries.size, bytes };
    },
  };
}

/** The process-wide cache createOidcProvider uses unless given another. */
export const sharedDiscoveryCache: DiscoveryCache = createDiscoveryCache();
