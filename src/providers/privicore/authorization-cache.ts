import { createHmac, randomBytes } from 'node:crypto';
import { isProviderError } from '../errors.js';
import type { Clock } from '../../schedule/clock.js';
import type { ProfileAuthorization } from './schemas.js';

/** How the cache logs a profile in and extends its authorization; the provider supplies it. */
export interface ProfileSession {
  /** who the authorization belongs to; see `profileKey` */
  key: ProfileKey;
  authenticate(): Promise<ProfileAuthorization>;
  /** `lifetimeSeconds` is how long the current authorization was issued for */
  reauthorize(current: ProfileAuthorization, lifetimeSeconds: number): Promise<ProfileAuthorization>;
}

export interface ProfileKey {
  /** apiUrl + username */
  identity: string;
  /** identity + a keyed hash of the password, so a changed password logs in afresh */
  key: string;
}

// Keyed with a per-process secret so the map never holds a plain, guessable password hash.
const KEY_SALT = randomBytes(32);

export function profileKey(apiUrl: string, username: string, password: string): ProfileKey {
  const identity = `${apiUrl}\u0000${username}`;
  const digest = createHmac('sha256', KEY_SALT).update(password).digest('hex').slice(0, 32);
  return { identity, key: `${identity}\u0000${digest}` };
}

/** profiles whose authorization is kept at once (each token at most MAX_CREDENTIAL_CHARS long) */
export const MAX_PROFILES = 1024;

export interface AuthorizationCacheOptions {
  clock: Clock;
  /**
   * Reauthorize this long before `expiresAt`. Default: 60 s (the probe author's advice,
   * providers.md §3.2) or 10% of the lifetime, whichever is shorter, so short-lived
   * authorizations are not renewed on every call.
   */
  leadMs?: number;
}

interface Cached {
  auth: ProfileAuthorization;
  obtainedAtMs: number;
}

interface Entry {
  identity: string;
  current?: Cached;
  inflight?: Promise<ProfileAuthorization>;
}

/**
 * ONE authorization per profile, shared by every caller in the process. Concurrent
 * callers share a single in-flight login; the authorization is reauthorized shortly
 * before it runs out (no timers: the check runs when someone asks); a 401 from any
 * call drops it and logs in again, once.
 */
export class AuthorizationCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: AuthorizationCacheOptions) {}

  /** A live authorization for the profile, logging in or reauthorizing when due. */
  get(session: ProfileSession): Promise<ProfileAuthorization> {
    const entry = this.entryFor(session.key);
    const now = this.opts.clock.now().getTime();
    if (entry.current && now < entry.current.auth.expiresAt.getTime() - this.leadMs(entry.current)) {
      return Promise.resolve(entry.current.auth);
    }
    if (!entry.inflight) {
      entry.inflight = this.renew(session, entry).finally(() => {
        entry.inflight = undefined;
        // a password that never logged in leaves nothing behind (a tenant trying wrong ones)
        if (!entry.current && this.entries.get(session.key.key) === entry) this.entries.delete(session.key.key);
      });
    }
    return entry.inflight;
  }

  /**
   * Runs `fn` with the profile's token. On a 401 the authorization is dropped (only if
   * it is still the one that failed, so a concurrent re-login is not thrown away) and
   * `fn` runs once more with a fresh login; a second 401 is the caller's answer.
   */
  async withAuthorization<T>(session: ProfileSession, fn: (token: string) => Promise<T>): Promise<T> {
    const auth = await this.get(session);
    try {
      return await fn(auth.authorizationToken);
    } catch (e) {
      if (!(isProviderError(e) && e.kind === 'Unauthorized' && e.status === 401)) throw e;
      this.invalidate(session.key, auth.authorizationToken);
      const fresh = await this.get(session);
      return fn(fresh.authorizationToken);
    }
  }

  /** Drops the authorization if it is still `token`. */
  invalidate(key: ProfileKey, token: string): void {
    const entry = this.entries.get(key.key);
    if (entry?.current?.auth.authorizationToken === token) delete entry.current;
  }

  /** Removes and returns the cached authorization (e.g. to revoke it). */
  take(key: ProfileKey): ProfileAuthorization | undefined {
    const entry = this.entries.get(key.key);
    const auth = entry?.current?.auth;
    if (entry) delete entry.current;
    return auth;
  }

  /** The cached token, if any, without logging in (for redaction lists). */
  peek(key: ProfileKey): ProfileAuthorization | undefined {
    return this.entries.get(key.key)?.current?.auth;
  }

  private async renew(session: ProfileSession, entry: Entry): Promise<ProfileAuthorization> {
    const current = entry.current;
    const startedMs = this.opts.clock.now().getTime();
    let next: ProfileAuthorization;
    if (current && startedMs < current.auth.expiresAt.getTime()) {
      const lifetimeSeconds = Math.max(1, Math.round((current.auth.expiresAt.getTime() - current.obtainedAtMs) / 1000));
      try {
        next = await session.reauthorize(current.auth, lifetimeSeconds);
      } catch (e) {
        // A refused reauthorization (token dead, ttl rejected, endpoint missing) is
        // recovered by logging in again; transient failures go back to the caller.
        if (!(isProviderError(e) && (e.kind === 'Unauthorized' || e.kind === 'Invalid' || e.kind === 'NotFound'))) throw e;
        next = await session.authenticate();
      }
    } else {
      next = await session.authenticate();
      // This password logs in: an authorization cached under another password of the same
      // profile predates a password change. Only a login that worked drops it: a resource that
      // names the profile with a wrong password (another tenant's, or a typo) never evicts the
      // authorization of the resources that have the right one.
      for (const [k, e] of this.entries) if (e !== entry && e.identity === session.key.identity) this.entries.delete(k);
    }
    entry.current = { auth: next, obtainedAtMs: startedMs };
    return next;
  }

  private leadMs(cached: Cached): number {
    if (this.opts.leadMs !== undefined) return this.opts.leadMs;
    const lifetime = cached.auth.expiresAt.getTime() - cached.obtainedAtMs;
    return Math.min(60_000, Math.max(0, lifetime * 0.1));
  }

  private entryFor(key: ProfileKey): Entry {
    let entry = this.entries.get(key.key);
    if (!entry) {
      // keyed by profile AND password digest: each password has its own entry (see renew)
      entry = { identity: key.identity };
      this.entries.set(key.key, entry);
      // One entry per profile a resource names (user input). Past the cap the oldest idle one
      // goes: it costs that profile one login; each holds one token of bounded length.
      if (this.entries.size > MAX_PROFILES) {
        for (const [k, e] of this.entries) {
          if (e.inflight || e === entry) continue;
          this.entries.delete(k);
          break;
        }
      }
    }
    return entry;
  }
}
