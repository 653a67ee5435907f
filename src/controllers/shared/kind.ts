import type { Logger } from 'pino';
import type { KindName, Resource } from '../../api/index.js';
import type { CredentialTraits, Issued, InputRef, InputValues, StillValidFacts } from '../../providers/credential-provider.js';
import type { AnyCredentialProvider } from '../../providers/registry.js';
import type { Condition, ConditionInput } from '../../runtime/conditions.js';
import type { EventRecorder, EventType } from '../../runtime/events.js';
import type { ObjectCache } from '../../runtime/informer.js';
import type { KubeClient, KubeObject } from '../../runtime/kube-client.js';
import type { OperatorMetrics } from '../../runtime/metrics.js';
import type { Clock } from '../../schedule/clock.js';
import type { CreationPolicy } from './ownership.js';
import type { ResourceIndex } from './resource-index.js';
import type { RolloutSettings, WorkloadRef } from './rollout.js';
import type { SecretState } from './secret-state.js';

/**
 * What a kind is (ARCHITECTURE "A reconciler is a short story"): its pure plan(), the status
 * facts it keeps beyond the shared ones, and what its provider calls take. Everything else —
 * finalizer, adoption after a crash, the one-time-credential write-first rule and its crash
 * points, pending-credential memory, drift, suspend, back-off, Retry-After, rollout, status —
 * is the skeleton's (token-reconciler.ts, credential.ts, chain.ts), the same for every kind.
 */

export interface CommonStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  expirationTime?: string;
  nextRotationTime?: string;
  lastRotationTime?: string;
  failedAttempts?: number;
  lastFailureTime?: string;
  lastHandledRotateRequest?: string;
  revision?: number;
  tokenId?: string;
  /** the Secret revision the rolloutRestart workloads were last restarted for (see rollout.ts) */
  lastRestartedRevision?: number;
  /** keyed HMAC of the target Secret data the operator wrote (drift detection) */
  secretHMAC?: string;
  /** drift repairs in the current run, and when the last one was (drift.ts) */
  driftRepairs?: number;
  lastDriftRepairTime?: string;
  /** a liveness check found the credential dead (liveness.ts): set until a new one is in the Secret */
  credentialRevokedTime?: string;
  [key: string]: unknown;
}

export type AnyResource = Resource<
  {
    suspend?: boolean;
    deletionPolicy?: 'Revoke' | 'Retain';
    revokeTimeout?: string;
    target: {
      secretName: string;
      creationPolicy?: CreationPolicy;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      rolloutRestart?: WorkloadRef[];
    };
  },
  CommonStatus
>;

export interface OperatorEnv {
  client: KubeClient;
  clock: Clock;
  events: EventRecorder;
  metrics: OperatorMetrics;
  secrets: ObjectCache<KubeObject>;
  allowInsecureHttp: boolean;
  /** the largest input Secret read (inputs.ts SecretReader); its default when absent */
  maxInputSecretBytes?: number;
  /** key for the Secret-data HMAC in status (per installation) */
  hmacKey: Buffer;
  /** rollout restarts of consuming workloads (debounce, Reloader mode); defaults when absent */
  rollout?: RolloutSettings;
  /** every kind's token resources: who claims a Secret, who reads one (ownership.ts) */
  resources: ResourceIndex;
}

/** What one reconcile step reports back; the skeleton turns it into conditions and status. */
export interface KindOutcome {
  ready: Omit<ConditionInput, 'type'>;
  /** extra conditions (Rotating, Stalled, …) */
  conditions?: ConditionInput[];
  requeueAfterMs?: number;
  events?: Array<{ type: EventType; reason: string; message: string }>;
  /**
   * The provider killed the previous credential the moment it issued the new one: restart the
   * consuming workloads right after the Secret write, without the debounce.
   */
  restartImmediately?: boolean;
}

export interface KindContext {
  env: OperatorEnv;
  log: Logger;
  now: Date;
  /** what the operator wrote into the target Secret, as far as it is this resource's (ownership.ts) */
  secret: SecretState;
  /** the target Secret object as last seen (undefined: absent); every write updates it */
  target: { secret: KubeObject | undefined };
  /** the status being built; mutate it as progress is made, so a later failure keeps it */
  status: CommonStatus;
  /** records an event on the resource now (and counts issued/rotated credentials) */
  emit(type: EventType, reason: string, message: string): void;
  /**
   * Writes the status built so far now, not at the end of the reconcile: for marks that must be on
   * the API server before a provider call. The final write then diffs against what this one left.
   */
  writeStatusNow(): Promise<void>;
}

/** What the plan sees besides the resource (with the status built so far) and the time. */
export interface PlanView {
  secret: SecretState;
  /** the spec field of the provider block the spec sets (exactly one: checked before the plan) */
  provider: string;
  /** how that provider's credential behaves */
  traits: CredentialTraits;
  /** the values of the kind's planInputs, and their keyed HMAC (kinds that plan on an input) */
  inputs?: InputValues;
  inputHmac?: string;
}

/**
 * Every decision a plan can make. The skeleton runs it: no kind executes its own order.
 * - Issue: ask the provider for a new credential (params: what the provider call needs), write
 *   it first, then status. `recovery`: the Ready reason and message to show instead of
 *   Issued/Rotated (e.g. RecoveredByRotation), with a Warning event.
 * - Restore: write known, non-secret data back without a provider call (a data token is a
 *   reference), when the state Secret that drift repair uses is gone too.
 * - Verify: prove the credential in the Secret works (after an earlier verification failed).
 * - RevokeReplaced: revoke credentials this resource replaced and still has to clean up.
 * - AwaitNewSeed: the provider refused the chain's credential; wait for a person's new seed.
 * - Hold: nothing to do but wait (Ready as `ready` says, Rotating=True with the reason).
 * - Refuse: the spec cannot work: a failure with this reason (Stalled unless transient).
 * - Wait: the credential is good; look again at the kind's schedule.
 */
export type Plan<P = unknown, RP = unknown> =
  | {
      action: 'Issue';
      reason: string;
      params: P;
      rotateRequest?: string;
      /** a chain's renewal whose answer was lost: present the same credential once more */
      recovering?: boolean;
      recovery?: { reason: string; message: string };
      /** status fields the plan already knows for when the credential lands (e.g. the input's HMAC) */
      facts?: Record<string, string>;
    }
  | { action: 'Restore'; reason: string; issued: Issued; message: string }
  | { action: 'Verify' }
  | { action: 'RevokeReplaced'; params: RP; message: string; /** the status fields to set once revoked (undefined: remove) */ done: Record<string, unknown> }
  | { action: 'AwaitNewSeed'; refusal: string }
  | { action: 'Hold'; reason: string; message: string; ready: boolean; requeueAfterMs: number; /** Rotating's reason, when not `reason` */ rotating?: string }
  | { action: 'Refuse'; reason: string; message: string; transient: boolean }
  | { action: 'Wait' };

export type IssuePlan<P> = Extract<Plan<P>, { action: 'Issue' }>;

/** When to look again while the credential is good, and what Ready says meanwhile. */
export interface Schedule {
  message: string;
  /** status.nextRotationTime; undefined: none (a data token never expires) */
  next?: Date;
  requeueAfterMs: number;
}

export interface TokenKind<R extends AnyResource = AnyResource, P = unknown, RP = unknown> {
  kind: KindName;
  plural: string;
  /** every decision, from the resource (with the status built so far), what the skeleton saw, and the time */
  plan(res: R, view: PlanView, now: Date): Plan<P, RP>;
  /** inputs the plan itself reads on every reconcile (data the kind exchanges, say), and their HMAC recipe */
  planInputs?: {
    refs(res: R): Record<string, InputRef>;
    hmac(res: R, values: InputValues, hmac: (data: Record<string, string>) => string): string;
  };
  /** status facts after a credential was written (into `status`, a draft), beyond the shared ones */
  record(res: R, status: R['status'] & CommonStatus, issued: Issued, plan: IssuePlan<P>, provider: string): void;
  /** status fields the target Secret mirrors as annotations, so a crash before the status write is adopted */
  mirror: Readonly<Record<string, string>>;
  /** after adopting a Secret written before a crash (`before`: the status until then) */
  adopted?(res: R, status: R['status'] & CommonStatus, before: CommonStatus, provider: string): void;
  /** Ready=True: its message, the next rotation and when to look again */
  schedule(res: R, status: R['status'] & CommonStatus, now: Date, provider: AnyCredentialProvider): Schedule;
  /** whether to verify a new credential with the provider (when it can) */
  verifies?(res: R): boolean;
  /** what revoke on delete takes (e.g. the credentials this resource created) */
  revokeParams?(res: R, status: R['status'] & CommonStatus): RP;
  /** a liveness check found the credential dead: the non-secret facts the provider gave with that (Liveness.facts) */
  revokedFacts?(status: R['status'] & CommonStatus, facts: Record<string, string | null>): void;
  /** what may be left at the provider after an abandoned revoke, beyond the expiry */
  stillValidFacts?(res: R): StillValidFacts;
}
