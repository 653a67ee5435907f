import type { AccessToken } from '../../api/index.js';
import type { SecretReader } from '../shared/inputs.js';
import type { Liveness } from '../../providers/liveness.js';
import type { KindContext } from '../shared/token-reconciler.js';
import type { CredentialSource, GrantType } from './plan.js';

/** What one renewal produced: the Secret's new content and the credential to present next time. */
export interface Renewed<C> {
  /** the credential to present next time: kept in the state Secret only (Variant.toPrivate) */
  next: C;
  /** the target Secret's content: what a workload needs to call the service, nothing that can mint */
  data: Record<string, string>;
  expiresAt: Date;
  /** oidc: null = the refresh token never expires (offline); undefined = the server did not say */
  refreshExpiresAt?: Date | null;
}

/** A provider answer that only a human can fix: becomes Ready=False/Stalled=True with this reason. */
export interface Refusal {
  reason: string;
  message: string;
}

export interface RefusalContext {
  /** set when the call retried a credential whose previous renewal result was lost */
  recoveringSince?: string;
  source: CredentialSource;
}

/**
 * The part of an AccessToken that differs between OAuth2/OIDC and GNAP. The flow around it
 * (seed or stored credential, crash marker, write, status) is the same for both: see
 * reconciler.ts.
 */
export interface Variant<C> {
  grantType: GrantType;
  /** where the seed lives, for messages: `Secret "x" key "y"` */
  seedLocation(res: AccessToken): string;
  /** the seed from the spec's Secret references; throws InputError when it is missing */
  readSeed(res: AccessToken, reader: SecretReader): Promise<C>;
  /**
   * The credential as the state Secret keeps it privately (state-secret.ts private.json; also
   * what the seed HMAC is taken of). It can mint new tokens, so it never goes to the target.
   */
  toPrivate(c: C): Record<string, string>;
  /** the credential in a private map (or, from older versions, a target Secret's data), if it holds one */
  fromPrivate(data: Record<string, string>): C | undefined;
  /**
   * Reads every other input (client secret, signing key) and returns the one provider call:
   * refresh (oidc) or rotate (gnap). Split in two so that input errors surface before the
   * crash marker is set; once the call is sent, the presented credential may be spent.
   * `save` stores a credential the provider handed out at once, before the rest of its answer
   * is checked (a malformed answer must not lose it); it never throws.
   */
  prepare(res: AccessToken, ctx: KindContext, reader: SecretReader, c: C, save: (next: C) => Promise<void>): Promise<() => Promise<Renewed<C>>>;
  /** the refusal a provider error stands for, or undefined for errors the shared mapping handles */
  refusal(e: unknown, res: AccessToken, r: RefusalContext): Refusal | undefined;
  revoke(res: AccessToken, ctx: KindContext, reader: SecretReader, c: C, mayAlreadyBeRevoked: boolean): Promise<void>;
  /** liveness of the credential issued (`data`: its fields by their default key names), without renewing it */
  verify(res: AccessToken, ctx: KindContext, reader: SecretReader, data: Record<string, string>): Promise<Liveness>;
  /** crash-injection point between the provider's answer and the Secret write */
  afterRenewCrashPoint: string;
}
