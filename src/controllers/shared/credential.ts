import { CONDITION, REASON, type Reason } from '../../api/index.js';
import type { IssueCall, Issued, ProviderCall } from '../../providers/credential-provider.js';
import { isProviderError, sanitize, type ProviderError, type Refusal } from '../../providers/errors.js';
import type { AnyCredentialProvider } from '../../providers/registry.js';
import { getCondition, setCondition } from '../../runtime/conditions.js';
import { crashPoint } from '../../runtime/crash-points.js';
import { chooseCredential, failedWithoutEffect, keptCredential, readSeed, splitInputs, type ChainStatus, type Seed } from './chain.js';
import { adviceFor, ReconcileError, seedLocation } from './failures.js';
import { InputError, SecretReader, checkEndpoints, readInputs } from './inputs.js';
import type { AnyResource, CommonStatus, IssuePlan, KindContext, KindOutcome, Plan, TokenKind } from './kind.js';
import type { CheckLiveness } from './liveness.js';
import { ANNOTATIONS } from './secret-state.js';
import { savePrivate } from './state-secret.js';
import { credentialFields } from './target-content.js';
import { ownerRef, writeCredential } from './write-secret.js';

/** The provider a resource's spec selects: the field of its one provider block, the block and the provider. */
export interface Bound {
  field: string;
  block: unknown;
  provider: AnyCredentialProvider;
}

type Status = CommonStatus & ChainStatus;

/** A credential the provider handed out whose Secret write has not landed yet. */
interface Unwritten {
  issued: Issued;
  plan: IssuePlan<unknown> | RestorePlan;
  at: Date;
  seedHmac?: string;
}
type RestorePlan = Extract<Plan, { action: 'Restore' }>;

/**
 * While a refusal waits for a person, the seed Secret is read (one GET, no provider call) this
 * often: seed Secrets are the user's, unlabelled, so no watch wakes us when they change.
 */
const SEED_POLL_MS = 60_000;

/** Set (persisted) before a revoke request goes out: a later attempt may then read 401 as "already revoked". */
const REVOKE_SENT = {
  type: CONDITION.Revoking,
  status: 'True',
  reason: REASON.RevokeSent,
  message: 'the revocation was sent to the provider; the resource goes once it is confirmed',
} as const;

/** Ready reasons that describe the credential in the Secret: a reconcile with nothing to do keeps them. */
const CREDENTIAL_REASONS: ReadonlySet<string> = new Set<Reason>([REASON.Issued, REASON.Rotated, REASON.RecoveredByRotation]);

/**
 * The credential protocol every kind shares (ARCHITECTURE rule 1): inputs read and endpoints
 * checked before anything is sent; for a chain, the crash marker on the resource before the
 * call; the provider's answer kept in memory until its Secret write lands (the next reconcile
 * writes it first, before anything else); the Secret before the status; the crash points
 * between every two steps, for every provider.
 */
export class CredentialProtocol<R extends AnyResource> {
  /** by resource uid: survives failed reconciles, not a crash (a chain's marker is for that) */
  private readonly unwritten = new Map<string, Unwritten>();
  /** a chain's credential this process last wrote, by uid: if the Secrets go, the chain goes on from here */
  private readonly lastWritten = new Map<string, Record<string, string>>();
  /** revokes sent without a clear answer: a 401 next time means "gone" */
  private readonly revokeSent = new Set<string>();

  constructor(private readonly kind: TokenKind<R>) {}

  hasUnwritten(uid: string): boolean {
    return this.unwritten.has(uid);
  }

  forget(uid: string): void {
    this.unwritten.delete(uid);
    this.lastWritten.delete(uid);
    this.revokeSent.delete(uid);
  }

  /** A credential in hand goes first: write it before anything else is decided. */
  writeUnwritten(res: R, ctx: KindContext, b: Bound): Promise<KindOutcome> | undefined {
    const u = this.unwritten.get(res.metadata.uid);
    return u ? this.persist(res, ctx, b, u) : undefined;
  }

  private call(ctx: KindContext, b: Bound, inputs: ProviderCall<unknown>['inputs']): ProviderCall<unknown> {
    return {
      spec: b.block,
      inputs,
      now: ctx.now,
      allowInsecureHttp: allowsHttp(b.block) && ctx.env.allowInsecureHttp,
      step: (name) => crashPoint(`${b.provider.name}:${name}`),
    };
  }

  /** Reads the provider's inputs (a chain's seed apart) and checks its endpoints: before any mark or call. */
  private async prepare(res: R, ctx: KindContext, b: Bound, reader: SecretReader): Promise<ProviderCall<unknown>> {
    checkEndpoints(b.provider.endpoints(b.block), `spec.${b.field}.`, allowsHttp(b.block), ctx.env.allowInsecureHttp);
    const inputs = await readInputs(reader, splitInputs(b.provider, b.block).other, `spec.${b.field}.`);
    return this.call(ctx, b, inputs);
  }

  /** Issue, renew or rotate: the provider call, then persist. */
  async issue(res: R, ctx: KindContext, b: Bound, plan: IssuePlan<unknown>, newSeed?: Seed): Promise<KindOutcome> {
    const status = ctx.status as Status;
    const reader = new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes);
    const chain = b.provider.traits.chain;
    let previous: Record<string, string> | undefined;
    let seed: Seed = {};
    let source: string | undefined;
    if (chain) {
      const stored = newSeed ? undefined : await keptCredential(b.provider, ctx, res.metadata.namespace, res.metadata.uid);
      const memory = this.lastWritten.get(res.metadata.uid);
      seed = newSeed ?? (await readSeed(b.provider, b.block, `spec.${b.field}.`, reader, ctx.env.hmacKey));
      const chosen = newSeed ? 'seed' : chooseCredential({ seedHmac: seed.hmac, recordedSeedHmac: status.seedHMAC, hasStored: !!stored, hasMemory: !!memory });
      previous = chosen === 'seed' ? seed.credential : chosen === 'stored' ? stored : chosen === 'memory' ? memory : undefined;
      if (!previous) throw seed.error ?? new InputError('SecretNotFound', `no credential to renew: ${seedLocation(b.provider, b.block)} is missing`);
      source = chosen;
    }
    const call: IssueCall<unknown, unknown> = { ...(await this.prepare(res, ctx, b, reader)), save: this.saver(res, ctx), params: plan.params, ...(previous ? { previous } : {}) };
    const recoveringSince = plan.recovering ? status.pendingRefreshSince : undefined;
    ctx.log.info({ reason: plan.reason, provider: b.provider.name, ...(source ? { source } : {}) }, 'issuing a credential');

    // A chain's crash marker lands before the call: once the provider answers, the presented
    // credential may be spent, and only the Secret write makes the new one safe.
    if (chain && !status.pendingRefreshSince) {
      status.pendingRefreshSince = ctx.now.toISOString();
      await ctx.writeStatusNow();
    }
    let issued: Issued;
    try {
      issued = await b.provider.issue(call);
    } catch (e) {
      if (chain && isProviderError(e)) {
        if (e.refusal) return this.refused(ctx, b, e, e.refusal, seed.hmac, plan.rotateRequest, recoveringSince);
        // A definite 4xx changed nothing at the provider; anything else may have (the reply
        // was lost): then the marker stays and the next attempt is a recovery.
        if (!recoveringSince && failedWithoutEffect(e)) delete status.pendingRefreshSince;
      }
      throw e;
    }
    crashPoint('issue:after-provider-answer');
    const u: Unwritten = { issued, plan, at: ctx.now };
    if (chain) {
      const seedHmac = source === 'seed' || status.seedHMAC === undefined ? seed.hmac : status.seedHMAC;
      if (seedHmac) u.seedHmac = seedHmac;
    }
    this.unwritten.set(res.metadata.uid, u);
    return this.persist(res, ctx, b, u);
  }

  /** Writes known data back (no provider call): the state Secret drift repair uses is gone too. */
  restore(res: R, ctx: KindContext, b: Bound, plan: RestorePlan): Promise<KindOutcome> {
    return this.persist(res, ctx, b, { issued: plan.issued, plan, at: ctx.now });
  }

  /** Stores a credential the provider just handed out, before anything else about the answer is checked. */
  private saver(res: R, ctx: KindContext) {
    return async (priv: Record<string, string>): Promise<void> => {
      this.lastWritten.set(res.metadata.uid, priv);
      try {
        await savePrivate(ctx.env.client, res.metadata.namespace, ownerRef(res), res.spec.target.secretName, priv);
      } catch (e) {
        // still in memory: the write that follows (with its retries) stores it with the rest
        ctx.log.warn({ err: e instanceof Error ? sanitize(e.message) : 'non-error thrown' }, 'could not save the new credential at once; it is written with the rest');
      }
    };
  }

  /** The Secret first, then status; verify last (a failure then keeps the new credential). */
  private async persist(res: R, ctx: KindContext, b: Bound, u: Unwritten): Promise<KindOutcome> {
    const status = ctx.status as Status;
    const first = !status.revision;
    const revision = (status.revision ?? 0) + 1;
    const { issued, plan } = u;
    // status as it will be once the write landed: the Secret mirrors the facts a crash must not lose
    const draft: Status = structuredClone(status);
    // the kind's facts first: it sees the status as it was before this credential
    if (plan.action === 'Issue') this.kind.record(res, draft as R['status'] & CommonStatus, issued, plan, b.field);
    draft.revision = revision;
    draft.lastRotationTime = u.at.toISOString();
    if (issued.expiresAt) draft.expirationTime = issued.expiresAt.toISOString();
    else delete draft.expirationTime;
    if (issued.tokenId) draft.tokenId = issued.tokenId;
    if (plan.action === 'Issue') {
      if (plan.rotateRequest !== undefined) draft.lastHandledRotateRequest = plan.rotateRequest;
      Object.assign(draft, plan.facts);
      if (b.provider.traits.chain) {
        if (u.seedHmac) draft.seedHMAC = u.seedHmac;
        delete draft.pendingRefreshSince;
        delete draft.credentialRefused;
      }
    }
    const hmac = await writeCredential(ctx, res, {
      data: issued.data,
      ...(issued.private ? { private: issued.private } : {}),
      revision,
      rotatedAt: u.at,
      ...(issued.expiresAt ? { expiresAt: issued.expiresAt } : {}),
      ...(draft.tokenId ? { tokenId: draft.tokenId } : {}),
      facts: mirrored(this.kind.mirror, draft),
    });
    this.unwritten.delete(res.metadata.uid);
    if (issued.private && b.provider.traits.chain) this.lastWritten.set(res.metadata.uid, issued.private);
    crashPoint('issue:after-secret-write');

    draft.secretHMAC = hmac;
    replaceContent(status, draft);
    const secretName = res.spec.target.secretName;
    const expires = status.expirationTime ? `; expires ${status.expirationTime}` : '';
    if (plan.action === 'Restore') {
      ctx.emit('Warning', REASON.SecretRestored, plan.message);
      return this.ready(res, ctx, b, readyReasonOf(status));
    }
    const reason = first ? REASON.Issued : REASON.Rotated;
    ctx.emit('Normal', reason, `Secret ${secretName} revision ${revision}${expires} (${plan.reason})`);
    await this.verify(res, ctx, b, issued.data);
    const outcome = this.ready(res, ctx, b, plan.recovery?.reason ?? reason, plan.recovery?.message);
    if (plan.recovery) outcome.events = [{ type: 'Warning', reason: plan.recovery.reason, message: plan.recovery.message }];
    // without overlap the consumers' credential is already dead: restart them now, not after a debounce
    if (b.provider.traits.noOverlap) outcome.restartImmediately = true;
    return outcome;
  }

  /** Proves the credential works, where the provider can and the kind asks: VerificationFailed (transient) otherwise. */
  async verify(res: R, ctx: KindContext, b: Bound, data: Record<string, string>): Promise<void> {
    if (!b.provider.verify || this.kind.verifies?.(res) === false) return;
    try {
      await b.provider.verify(this.call(ctx, b, {}), data);
    } catch (e) {
      const why = e instanceof Error ? sanitize(e.message) : 'unknown error';
      throw new ReconcileError(REASON.VerificationFailed, `the credential is in the Secret but ${b.provider.name} refused it: ${why}`, true);
    }
  }

  /** The provider's liveness check of the resource's credential (liveness.ts), or undefined when it has none. */
  livenessCheck(res: R, ctx: KindContext, b: Bound): CheckLiveness | undefined {
    const check = b.provider.checkLiveness?.bind(b.provider);
    if (!check) return undefined;
    return async (data, intervalMs) => {
      const call = await this.prepare(res, ctx, b, new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes));
      const { tokenId, lastRotationTime } = ctx.status;
      return check({
        ...call,
        data,
        intervalMs,
        mayPresent: this.kind.verifies?.(res) !== false,
        ...(tokenId ? { tokenId } : {}),
        ...(lastRotationTime ? { issuedAt: new Date(lastRotationTime) } : {}),
      });
    };
  }

  /** Ready=True with the kind's schedule (keeping a credential reason, or the one given). */
  ready(res: R, ctx: KindContext, b: Bound, reason = readyReasonOf(ctx.status), message?: string): KindOutcome {
    const s = this.kind.schedule(res, ctx.status as R['status'] & CommonStatus, ctx.now, b.provider);
    if (s.next) ctx.status.nextRotationTime = s.next.toISOString();
    else delete ctx.status.nextRotationTime;
    const current = getCondition(ctx.status.conditions, CONDITION.Ready);
    // a recovery's explanation stays visible until the next rotation replaces it
    const kept = !message && current?.status === 'True' && current.reason === reason && reason !== REASON.Issued && reason !== REASON.Rotated ? current.message : undefined;
    return {
      ready: { status: 'True', reason, message: message ?? kept ?? s.message },
      conditions: [{ type: CONDITION.Rotating, status: 'False', reason: REASON.Idle, message: '' }],
      requeueAfterMs: s.requeueAfterMs,
    };
  }

  /** The provider refused a chain's credential for good: Stalled until a new seed, a spec change or a rotate request. */
  private refused(ctx: KindContext, b: Bound, e: ProviderError, refusal: Refusal, seedHmac: string | undefined, rotateRequest: string | undefined, recoveringSince: string | undefined): KindOutcome {
    const status = ctx.status as Status;
    const chain = b.provider.traits.chain!;
    const seedFix = (refusal.inputs ?? []).some((n) => n in chain.seed) && !refusal.config?.length;
    let reason = refusal.reason;
    let message = `${e.provider} ${e.message}. ${adviceFor(b.provider, b.block, b.field)(refusal)}`;
    if (recoveringSince && seedFix) {
      reason = chain.lost;
      message =
        `a ${chain.call} sent at ${recoveringSince} never had its answer stored (operator crash or lost reply), so the credential it presented was spent, ` +
        `and the provider now refuses it (${refusal.reason}): ${e.provider} ${e.message}. ${chain.anew} ${seedLocation(b.provider, b.block)}: ` +
        'the operator uses it as soon as the value changes.';
    }
    status.credentialRefused = reason;
    // only a seed different from the one at hand resumes: the same value would be refused again
    if (seedHmac) status.seedHMAC = seedHmac;
    if (rotateRequest !== undefined) status.lastHandledRotateRequest = rotateRequest;
    delete status.pendingRefreshSince;
    ctx.log.warn({ reason }, 'the provider refused the credential; waiting for a new seed');
    return { ...stalled(reason, message), events: [{ type: 'Warning', reason, message }] };
  }

  /** After a refusal: one GET of the seed per poll; a new value renews at once. */
  async awaitNewSeed(res: R, ctx: KindContext, b: Bound, refusal: string): Promise<KindOutcome> {
    const reader = new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes);
    const seed = await readSeed(b.provider, b.block, `spec.${b.field}.`, reader, ctx.env.hmacKey);
    if (seed.credential && seed.hmac !== (ctx.status as Status).seedHMAC) {
      return this.issue(res, ctx, b, { action: 'Issue', reason: 'NewSeed', params: undefined }, seed);
    }
    const current = getCondition(ctx.status.conditions, CONDITION.Stalled);
    const message =
      current?.status === 'True' && current.reason === refusal
        ? current.message
        : `the provider refused the credential (${refusal}); put a new one into ${seedLocation(b.provider, b.block)}: the operator uses it as soon as the value changes`;
    return stalled(refusal, message);
  }

  /** Revokes what this resource replaced (the plan's params); on success the plan's `done` status applies. */
  async revokeReplaced(res: R, ctx: KindContext, b: Bound, params: unknown): Promise<void> {
    const call = await this.prepare(res, ctx, b, new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes));
    await b.provider.revoke({ ...call, mayAlreadyBeRevoked: false, params });
  }

  /** Revokes the resource's credential at the provider (deletionPolicy Revoke); throws if it did not succeed. */
  async revoke(res: R, ctx: KindContext, b: Bound): Promise<void> {
    const status = ctx.status as Status;
    const uid = res.metadata.uid;
    const reader = new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes);
    const waiting = this.unwritten.get(uid)?.issued;
    let current: { data: Record<string, string>; private?: Record<string, string> } | undefined;
    let mayAlreadyBeRevoked = false;
    const chain = b.provider.traits.chain;
    let sentBefore = false;
    if (chain) {
      let credential = waiting?.private ?? (await keptCredential(b.provider, ctx, res.metadata.namespace, uid)) ?? this.lastWritten.get(uid);
      let fromSeed = false;
      if (!credential) {
        credential = (await readSeed(b.provider, b.block, `spec.${b.field}.`, reader, ctx.env.hmacKey)).credential;
        if (!credential) {
          ctx.log.info('nothing to revoke: no credential kept and no seed');
          return;
        }
        fromSeed = true;
      }
      // the credential's own fields (a templated target's keys are the template's: the state Secret's copy)
      current = { data: waiting?.data ?? (ctx.secret.owned ? ((await credentialFields(ctx.env.client, res.metadata.namespace, uid, ctx.secret)) ?? {}) : {}), private: credential };
      // Reasons to think the credential is dead already (a provider may refuse a second revoke of the same credential): a
      // revoke sent by an earlier attempt — persisted as a condition, since this process may have
      // died before releasing the finalizer (crash point finalize:after-revoke) — or a renewal
      // whose answer was lost, or a refusal.
      sentBefore = getCondition(status.conditions, REVOKE_SENT.type)?.status === 'True';
      mayAlreadyBeRevoked = !!status.pendingRefreshSince || !!status.credentialRefused || (fromSeed && (status.revision ?? 0) > 0) || this.revokeSent.has(uid) || sentBefore;
    } else {
      // the credential's own fields: a templated target's keys are the template's (target-content.ts)
      const data = waiting?.data ?? (await credentialFields(ctx.env.client, res.metadata.namespace, uid, ctx.secret));
      if (data) current = { data, ...(waiting?.private ? { private: waiting.private } : {}) };
    }
    const call = await this.prepare(res, ctx, b, reader);
    if (chain && !sentBefore) {
      status.conditions = setCondition(status.conditions, REVOKE_SENT, ctx.now, res.metadata.generation);
      await ctx.writeStatusNow();
    }
    try {
      await b.provider.revoke({ ...call, mayAlreadyBeRevoked, params: this.kind.revokeParams?.(res, status as R['status'] & CommonStatus), ...(current ? { current } : {}) });
    } catch (e) {
      if (chain && !failedWithoutEffect(isProviderError(e) ? e : undefined)) this.revokeSent.add(uid);
      throw e;
    }
  }

  /** After an abandoned revoke: what may still be valid at the provider (no secrets). */
  stillValid(res: R, b: Bound): string {
    const s = (res.status ?? {}) as Status & { refreshTokenExpirationTime?: string };
    return b.provider.stillValid(b.block, {
      ...(s.expirationTime ? { expiresAt: s.expirationTime } : {}),
      ...(s.refreshTokenExpirationTime ? { renewableUntil: s.refreshTokenExpirationTime } : {}),
      ...this.kind.stillValidFacts?.(res),
    });
  }
}

/** Stalled with a reason a person must act on; the seed is looked at again now and then. */
export function stalled(reason: string, message: string): KindOutcome {
  return {
    ready: { status: 'False', reason, message },
    conditions: [
      { type: CONDITION.Stalled, status: 'True', reason, message },
      { type: CONDITION.Rotating, status: 'False', reason, message: '' },
    ],
    requeueAfterMs: SEED_POLL_MS,
  };
}

/** The Ready reason to keep while nothing changes: the credential's own (Issued, Rotated, a recovery), else Issued. */
export function readyReasonOf(status: CommonStatus): string {
  const r = getCondition(status.conditions, CONDITION.Ready);
  return r?.status === 'True' && CREDENTIAL_REASONS.has(r.reason) ? r.reason : REASON.Issued;
}

/** A provider block's consent to plain http (every block may carry allowInsecureHttp). */
export function allowsHttp(block: unknown): boolean {
  return (block as { allowInsecureHttp?: boolean } | undefined)?.allowInsecureHttp === true;
}

/** The status fields the Secret mirrors, as its annotations. */
function mirrored(mirror: Readonly<Record<string, string>>, status: CommonStatus): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, annotation] of Object.entries({ ...mirror, lastHandledRotateRequest: ANNOTATIONS.rotateRequest })) {
    const v = status[field];
    if (typeof v === 'string') out[annotation] = v;
  }
  return out;
}

function replaceContent(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const k of Object.keys(target)) if (!(k in source)) delete target[k];
  Object.assign(target, source);
}

