import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../../../src/schedule/clock.js';

/**
 * What the DDS simulator knows: zDirect apps and their access tokens, each account's DDS
 * tokens, and a request log. Behaviour follows ../../../../shared/research/providers.md §1;
 * where Zalando leaves something undocumented the choice is a setting, so tests can cover
 * each plausible variant.
 */

export type TokenStatus = 'ACTIVE' | 'ROTATED';

export interface SimDdsToken {
  id: string;
  /** the zDirect client id owning the token (one account per app in this simulator) */
  account: string;
  status: TokenStatus;
  createdAt: number;
  expiresAt: number;
  activationToken: string;
  bearerToken: string;
  downloaded: boolean;
  revoked: boolean;
}

export interface SimSettings {
  /** Delta Sharing tokens live 90 days (§1.4) */
  tokenTtlMs: number;
  /** `expires_in` of zDirect access tokens; null leaves the field out */
  accessTokenTtlSeconds: number | null;
  /** the token endpoint's limit: 8/min per app in production (§1.2) */
  tokenRateLimit: { limit: number; windowMs: number };
  /** how the activation endpoint writes the profile's expirationTime */
  expirationTimeFormat: 'iso' | 'epoch-ms';
  /** how /dds-tokens writes created_at and expiration_time */
  timestampFormat: 'iso' | 'epoch-ms';
  /** /dds-tokens lists as a bare array or as {items: [...]} */
  listEnvelope: 'array' | 'items';
  /** which URL the list hands out as activation_link */
  activationLinkForm: 'html' | 'api-2.0' | 'api-2.1';
  /** status of the two-token-ceiling refusal (body: problem+json naming the limit) */
  ceilingStatus: 400 | 409;
  /** status of a second download of the same activation link */
  consumedStatus: number;
}

export const DEFAULT_SETTINGS: SimSettings = {
  tokenTtlMs: 90 * 24 * 3600 * 1000,
  accessTokenTtlSeconds: 7200,
  tokenRateLimit: { limit: 8, windowMs: 60_000 },
  expirationTimeFormat: 'iso',
  timestampFormat: 'epoch-ms',
  listEnvelope: 'array',
  activationLinkForm: 'html',
  ceilingStatus: 400,
  consumedStatus: 400,
};

export interface RequestLogEntry {
  method: string;
  /** path without the query string */
  path: string;
  route: string;
  status: number;
  /** simulator clock at arrival */
  at: Date;
  /** the zDirect client that made the call, when known */
  clientId?: string;
}

export type RotateOutcome = { ok: true; tokens: SimDdsToken[] } | { ok: false; reason: 'ceiling' };
export type DownloadOutcome = { ok: true; token: SimDdsToken } | { ok: false; reason: 'unknown' | 'consumed' | 'expired' };

export class DdsSimState {
  readonly settings: SimSettings;
  /** client id → client secret */
  readonly clients = new Map<string, string>();
  readonly tokens: SimDdsToken[] = [];
  readonly log: RequestLogEntry[] = [];
  patchZeroCalls = 0;
  /** the simulator's own URL, set once it listens */
  baseUrl = '';

  private readonly accessTokens = new Map<string, { clientId: string; expiresAt: number }>();
  private readonly grantedAt = new Map<string, number[]>();
  private readonly accounts = new Set<string>();
  private readonly issuedAccessTokens: string[] = [];

  constructor(
    private readonly clock: Clock,
    settings: Partial<SimSettings> = {},
  ) {
    this.settings = { ...DEFAULT_SETTINGS, ...settings };
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  addClient(clientId: string, clientSecret: string): void {
    this.clients.set(clientId, clientSecret);
  }

  // ---- zDirect /auth/token ----------------------------------------------------------

  /** seconds until the client may ask again, or undefined when under the limit */
  tokenRateLimited(clientId: string): number | undefined {
    const { limit, windowMs } = this.settings.tokenRateLimit;
    const t = this.now();
    const recent = (this.grantedAt.get(clientId) ?? []).filter((at) => at > t - windowMs);
    this.grantedAt.set(clientId, recent);
    if (recent.length < limit) return undefined;
    const oldest = recent[recent.length - limit] ?? t;
    return Math.max(1, Math.ceil((oldest + windowMs - t) / 1000));
  }

  issueAccessToken(clientId: string): { accessToken: string; expiresIn: number | null } {
    const t = this.now();
    this.grantedAt.set(clientId, [...(this.grantedAt.get(clientId) ?? []), t]);
    const accessToken = randomBytes(32).toString('base64url');
    this.issuedAccessTokens.push(accessToken);
    // Without expires_in the simulator still expires tokens (after 2 h, like the real ones).
    const ttl = this.settings.accessTokenTtlSeconds ?? 7200;
    this.accessTokens.set(accessToken, { clientId, expiresAt: t + ttl * 1000 });
    return { accessToken, expiresIn: this.settings.accessTokenTtlSeconds };
  }

  /** the client id behind a live access token */
  clientFor(accessToken: string): string | undefined {
    const entry = this.accessTokens.get(accessToken);
    return entry && entry.expiresAt > this.now() ? entry.clientId : undefined;
  }

  /** every issued access token stops working (as if zDirect revoked them) */
  expireAccessTokens(): void {
    this.accessTokens.clear();
  }

  // ---- /dds-tokens ------------------------------------------------------------------

  /** valid tokens of an account, ACTIVE first; a fresh account starts with one ACTIVE token */
  live(account: string): SimDdsToken[] {
    if (!this.accounts.has(account)) {
      this.accounts.add(account);
      this.newToken(account);
    }
    const t = this.now();
    return this.tokens
      .filter((k) => k.account === account && !k.revoked && k.expiresAt > t)
      .sort((a, b) => (a.status === b.status ? b.createdAt - a.createdAt : a.status === 'ACTIVE' ? -1 : 1));
  }

  /** POST: new ACTIVE token; current ones become ROTATED with a TTL that can only shrink */
  rotate(account: string, existingTtlSeconds: number): RotateOutcome {
    const live = this.live(account);
    if (live.some((k) => k.status === 'ROTATED')) return { ok: false, reason: 'ceiling' };
    const until = this.now() + existingTtlSeconds * 1000;
    for (const k of live) {
      k.status = 'ROTATED';
      k.expiresAt = Math.min(k.expiresAt, until);
    }
    this.newToken(account);
    return { ok: true, tokens: this.live(account) };
  }

  /** PATCH: shortens every token's TTL; 0 revokes them all */
  expireAll(account: string, existingTtlSeconds: number): SimDdsToken[] {
    const until = this.now() + existingTtlSeconds * 1000;
    for (const k of this.live(account)) {
      k.expiresAt = Math.min(k.expiresAt, until);
      if (existingTtlSeconds === 0) k.revoked = true;
    }
    if (existingTtlSeconds === 0) this.patchZeroCalls += 1;
    return this.live(account);
  }

  /**
   * Revokes every valid token of an account (or of every account), the way another tool's
   * PATCH 0 does: not counted in patchZeroCalls, which counts the operator's. With `status`,
   * only the tokens in that state (the sharing server dropping the ACTIVE one while the ROTATED
   * one lives on). Returns how many.
   */
  revokeOutOfBand(account?: string, status?: TokenStatus): number {
    const t = this.now();
    let n = 0;
    for (const k of this.tokens) {
      if ((account !== undefined && k.account !== account) || k.revoked || k.expiresAt <= t) continue;
      if (status !== undefined && k.status !== status) continue;
      k.revoked = true;
      n += 1;
    }
    return n;
  }

  private newToken(account: string): SimDdsToken {
    const t = this.now();
    const token: SimDdsToken = {
      id: randomUUID(),
      account,
      status: 'ACTIVE',
      createdAt: t,
      expiresAt: t + this.settings.tokenTtlMs,
      activationToken: randomBytes(24).toString('hex'),
      bearerToken: randomBytes(32).toString('base64url'),
      downloaded: false,
      revoked: false,
    };
    this.tokens.push(token);
    return token;
  }

  activationLink(token: SimDdsToken): string | null {
    if (token.downloaded) return null;
    switch (this.settings.activationLinkForm) {
      case 'html':
        return `${this.baseUrl}/delta_sharing/retrieve_config.html?${token.activationToken}`;
      case 'api-2.0':
        return `${this.baseUrl}/api/2.0/unity-catalog/public/data_sharing_activation/${token.activationToken}`;
      case 'api-2.1':
        return `${this.baseUrl}/api/2.1/unity-catalog/public/data_sharing_activation/${token.activationToken}`;
    }
  }

  // ---- Databricks activation and Delta Sharing --------------------------------------

  /** the one allowed download of a token's profile */
  download(activationToken: string): DownloadOutcome {
    const token = this.tokens.find((k) => k.activationToken === activationToken);
    if (!token) return { ok: false, reason: 'unknown' };
    if (token.downloaded) return { ok: false, reason: 'consumed' };
    if (token.revoked || token.expiresAt <= this.now()) return { ok: false, reason: 'expired' };
    token.downloaded = true;
    return { ok: true, token };
  }

  /** the token a Delta Sharing bearer belongs to, if it is still valid */
  liveBearer(bearerToken: string): SimDdsToken | undefined {
    const t = this.now();
    return this.tokens.find((k) => k.bearerToken === bearerToken && k.downloaded && !k.revoked && k.expiresAt > t);
  }

  // ---- inspection -------------------------------------------------------------------

  /** token endpoint calls that were answered with a token or a refusal, oldest first */
  tokenRequests(clientId?: string): RequestLogEntry[] {
    return this.log.filter((e) => e.route === 'auth' && (clientId === undefined || e.clientId === clientId));
  }

  /** every secret the simulator handed out, for tests asserting nothing leaks */
  secrets(): string[] {
    return [
      ...this.clients.values(),
      ...this.issuedAccessTokens,
      ...this.tokens.flatMap((k) => [k.activationToken, k.bearerToken]),
    ];
  }
}
