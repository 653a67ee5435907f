import type { Clock } from '../schedule/clock.js';
import type { HttpClient, ObservedCall } from './http.js';
import type { Liveness } from './liveness.js';

/**
 * The one seam between the operator and a vendor (External Secrets' Provider, for tokens):
 * every kind's spec names its provider with one block (`spec.oidc`, `spec.dds`, …), the
 * registry (registry.ts) maps that block's field to one of these, and the skeleton in
 * src/controllers/shared/ runs the same protocol around every one of them: inputs read and
 * checked, the one-time-credential write-first rule with its crash points, status, drift,
 * revoke on delete. A provider knows HTTP and its vendor's contract, nothing of Kubernetes or
 * of conditions: it says what it needs (inputs), what a call produced (Issued) and why it
 * failed (a ProviderError, with a Refusal when only a person can fix it).
 */

/** What every provider is built from: one per process, shared by every resource. */
export interface ProviderDeps {
  http: HttpClient;
  clock: Clock;
  observe?: (o: ObservedCall) => void;
  /** the operator allows plain http:// endpoints for resources that also allow them (local simulators) */
  allowInsecureHttp: boolean;
}

/** One value the provider reads from a Secret in the resource's namespace. */
export interface InputRef {
  /** the spec field that names it, for messages: "spec.oidc.clientSecretRef" */
  field: string;
  /** Secret name and key */
  name: string;
  key: string;
  /** absent is fine (e.g. a public client has no secret): the value is then undefined */
  optional?: boolean;
  /** raw bytes (a Buffer), not trimmed text */
  binary?: boolean;
}

export type InputValues = Record<string, string | Buffer | undefined>;

/** Inputs that are fixed keys of one Secret a block names (a SecretRef): input name → key. */
export function keysOfSecret(field: string, secretName: string, keys: Record<string, string>): Record<string, InputRef> {
  return Object.fromEntries(Object.entries(keys).map(([input, key]) => [input, { field, name: secretName, key }]));
}

/** The part of a call every provider method gets. */
export interface ProviderCall<Spec> {
  /** the provider's block of the spec, e.g. spec.oidc */
  spec: Spec;
  /** the values of inputs(spec), by name */
  inputs: InputValues;
  now: Date;
  /** plain http:// endpoints are allowed for this resource (both it and the operator said so) */
  allowInsecureHttp: boolean;
  /** marks a step inside a multi-request call, so crash tests can stop the process there */
  step(name: string): void;
}

export interface IssueCall<Spec, Params> extends ProviderCall<Spec> {
  /**
   * The private credential to present (providers with a chain): the seed the person gave, or
   * what the last issue returned as `private`. Undefined for the others.
   */
  previous?: Record<string, string>;
  /**
   * Stores a credential the vendor hands out once (a rotated refresh token) the moment it
   * arrives, before the rest of the answer is checked: a malformed rest must not lose it.
   * Never throws.
   */
  save(priv: Record<string, string>): Promise<void>;
  /** what the kind's plan decided beyond "issue" (e.g. DeltaShareToken: rotate or not) */
  params: Params;
}

/** What one issue, renewal or rotation produced. */
export interface Issued {
  /** the target Secret's content: what a workload needs to call the service, nothing that can mint */
  data: Record<string, string>;
  /** what can mint new credentials: kept in the operator's state Secret only, presented next time */
  private?: Record<string, string>;
  expiresAt?: Date;
  /** a provider-side id (never a secret): status.tokenId */
  tokenId?: string;
  /**
   * Non-secret facts the kind records in status: e.g. when the refresh token lapses
   * (`renewableUntil`, null = never), when the replaced credential stops working.
   */
  facts?: Record<string, string | null>;
}

export interface RevokeCall<Spec, Params> extends ProviderCall<Spec> {
  /** what the operator last wrote: the target data and the private part (undefined: nothing known) */
  current?: { data: Record<string, string>; private?: Record<string, string> };
  /** an earlier revoke or renewal of this credential may have landed without its answer (GNAP answers 401 to a second revoke) */
  mayAlreadyBeRevoked: boolean;
  params: Params;
}

/** What a liveness check gets (spec.liveness; docs/liveness.md). */
export interface LivenessCall<Spec> extends ProviderCall<Spec> {
  /** the credential issued last: its fields by the default key names, whatever a template made of the target */
  data: Record<string, string>;
  /** status.tokenId: the provider-side id of that credential, when known */
  tokenId?: string;
  /** when it was issued */
  issuedAt?: Date;
  /** the resource's check interval: an answer shared by many checks (one listing) may serve a tenth of it */
  intervalMs: number;
  /** the operator may present the credential to the service it is for (false: the kind's spec said not to verify) */
  mayPresent: boolean;
}

/**
 * How the credential behaves, so the skeleton applies the right protocol. Facts of the vendor's
 * contract (docs/providers.md), not choices.
 */
export interface CredentialTraits {
  /**
   * Presenting the credential spends it, or the answer can be had once (a rotated refresh
   * token, a GNAP rotation, a one-time download): the answer is written before anything else,
   * and for a chain a crash marker goes on the resource before the call.
   */
  oneTime: boolean;
  /**
   * The private credential is carried from one issue to the next (`previous`), starting from a
   * seed a person gave. A refusal then waits for a new seed.
   */
  chain?: {
    /** the seed inputs, and the key each becomes in the private credential */
    seed: Readonly<Record<string, string>>;
    /** the reason when a renewal's answer was lost and the provider now refuses the spent credential */
    lost: string;
    /** what a renewal is called at this vendor, for messages: "refresh", "rotation" */
    call: string;
    /** how a person gets a new seed and where it goes, for messages, up to the Secret's name: "Generate a new token and put it into" */
    anew: string;
  };
  /** the new credential ends the previous one at once (no overlap): consumers restart right after the write */
  noOverlap?: boolean;
  /** renew at least this often, whatever the expiry (an offline session lapses when unused) */
  keepAliveMs?: number;
}

/** What the operator knows of the credentials a resource may leave behind at the vendor. */
export interface StillValidFacts {
  /** when the current credential expires */
  expiresAt?: string;
  /** when what renews it lapses (a refresh token) */
  renewableUntil?: string;
  /** the tag every credential this resource created carries at the vendor, if it created any */
  createdTag?: string;
}

/**
 * A credential provider for one kind. `Params` is what the kind's plan passes to issue (and
 * revoke), when one decision is not the provider's to make.
 */
export interface CredentialProvider<Spec = unknown, Params = undefined, RevokeParams = undefined> {
  /** stable name: metrics, logs, crash points ("<name>:<step>") */
  readonly name: string;
  readonly traits: CredentialTraits;
  /** the Secrets it reads, by the name issue/revoke find them under in `inputs` */
  inputs(spec: Spec): Record<string, InputRef>;
  /** its endpoint URLs by spec field path (checked before any call: https unless allowed) */
  endpoints(spec: Spec): Record<string, string | undefined>;
  issue(call: IssueCall<Spec, Params>): Promise<Issued>;
  /** proves the credential works (a cheap read with it); throws when the vendor refuses it */
  verify?(call: ProviderCall<Spec>, data: Record<string, string>): Promise<void>;
  revoke(call: RevokeCall<Spec, RevokeParams>): Promise<void>;
  /**
   * Liveness, where the vendor offers a cheap read that proves it (docs/liveness.md): does the
   * credential issued last still work? Never a renewal: a check must not spend or replace what it
   * checks. Never throws: a failure that proves nothing is `unknown`. A `revoked` answer may carry
   * non-secret facts the kind records before the re-issue (e.g. what still blocks a new token).
   */
  checkLiveness?(call: LivenessCall<Spec>): Promise<Liveness>;
  /**
   * After an abandoned revoke (deletion must not hang): what may still be valid at the vendor
   * and how a person ends it there. No secret values.
   */
  stillValid(spec: Spec, known: StillValidFacts): string;
}
