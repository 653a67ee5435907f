import type { Clock } from '../../schedule/clock.js';
import { isProviderError } from '../errors.js';
import { ALIVE, revoked, unknown, unknownFrom, type Liveness } from '../liveness.js';
import type { DataTokenList } from './schemas.js';

/**
 * Liveness at Privicore (docs/liveness.md): a data token is a reference, so it is alive while
 * the profile still lists it (`GET /data-token/list-data-tokens`); deleted out of band, it is
 * gone. Privicore has no lookup by token, so the listing is shared: one snapshot per profile,
 * reused by the checks of its tokens that come within `maxAgeMs` of it (the caller keeps that a
 * small share of its interval: a deletion is found at most that much later), and fetched again
 * when a token is missing from a snapshot taken before that token was written (so a token
 * created after the snapshot is never reported gone).
 */

export const LIST_PAGE_SIZE = 100;
export const MAX_LIST_PAGES = 100;
/** the longest a snapshot is ever kept */
const MAX_AGE_MS = 60_000;
const MAX_PROFILES = 16;

interface Snapshot {
  tokens: Set<string>;
  /** the listing stopped at MAX_LIST_PAGES: a missing token proves nothing */
  truncated: boolean;
  fetchedAtMs: number;
}

interface Entry {
  snapshot?: Snapshot;
  inflight?: Promise<Snapshot>;
}

export type ListPage = (page: number, perPage: number) => Promise<DataTokenList>;

/** One per process (like AuthorizationCache), keyed by profile (ProfileKey.key). */
export class DataTokenListings {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: { clock: Clock }) {}

  /**
   * Is `token` listed for the profile? `writtenAt`: when the operator wrote it (a snapshot
   * older than that may simply not have it yet); `maxAgeMs`: how old a snapshot may be to answer.
   */
  async liveness(profile: string, token: string, writtenAt: Date | undefined, maxAgeMs: number, list: ListPage): Promise<Liveness> {
    const now = this.opts.clock.now().getTime();
    let snap = this.entries.get(profile)?.snapshot;
    const fresh = snap !== undefined && now - snap.fetchedAtMs < Math.min(maxAgeMs, MAX_AGE_MS);
    const canMiss = snap !== undefined && snap.fetchedAtMs > (writtenAt?.getTime() ?? Number.POSITIVE_INFINITY);
    if (!fresh || (!snap!.tokens.has(token) && !canMiss)) {
      try {
        snap = await this.fetch(profile, list);
      } catch (e) {
        return unknownFrom(e);
      }
    }
    if (snap!.tokens.has(token)) return ALIVE;
    if (snap!.truncated) return unknown(`listDataTokens: the profile lists more than ${MAX_LIST_PAGES * LIST_PAGE_SIZE} tokens; this one is not among the first`);
    return revoked('listDataTokens: the data token is no longer listed for the profile (deleted at Privicore)');
  }

  private fetch(profile: string, list: ListPage): Promise<Snapshot> {
    let entry = this.entries.get(profile);
    if (!entry) {
      // snapshots past their ttl are of no use: only fresh ones (at most MAX_PROFILES) are kept
      const now = this.opts.clock.now().getTime();
      for (const [k, v] of this.entries) if (!v.inflight && v.snapshot && now - v.snapshot.fetchedAtMs >= MAX_AGE_MS) this.entries.delete(k);
      entry = {};
      this.entries.set(profile, entry);
      if (this.entries.size > MAX_PROFILES) this.entries.delete(this.entries.keys().next().value!);
    }
    const e = entry;
    e.inflight ??= listAll(list, this.opts.clock)
      .then((s) => (e.snapshot = s))
      .finally(() => (e.inflight = undefined));
    return e.inflight;
  }
}

async function listAll(list: ListPage, clock: Clock): Promise<Snapshot> {
  const fetchedAtMs = clock.now().getTime();
  const tokens = new Set<string>();
  for (let page = 1; page <= MAX_LIST_PAGES; page++) {
    const res = await list(page, LIST_PAGE_SIZE);
    for (const item of res.items) tokens.add(item.token);
    if (res.items.length < LIST_PAGE_SIZE || page * LIST_PAGE_SIZE >= res.meta.count) return { tokens, truncated: false, fetchedAtMs };
  }
  return { tokens, truncated: true, fetchedAtMs };
}

/**
 * The profile authorization the operator holds, checked with the token-expiry endpoint. A
 * refused one (revoked or deleted out of band) is dropped, and the next call logs in again:
 * it is the operator's own, in no Secret, so this never reports a workload's credential
 * revoked; `relogin` says what happened.
 */
export async function authorizationLiveness(retrieveExpiry: () => Promise<Date>, relogin: () => Promise<unknown>): Promise<{ liveness: Liveness; relogged: boolean }> {
  try {
    await retrieveExpiry();
    return { liveness: ALIVE, relogged: false };
  } catch (e) {
    if (!(isProviderError(e) && e.kind === 'Unauthorized')) return { liveness: unknownFrom(e), relogged: false };
    try {
      await relogin();
      return { liveness: ALIVE, relogged: true };
    } catch (e2) {
      return { liveness: unknownFrom(e2), relogged: false };
    }
  }
}
