import type { AccessToken, AccessTokenStatus } from '../../api/index.js';
import { isProviderError, sanitize } from '../../providers/errors.js';
import { unknown } from '../../providers/liveness.js';
import type { GnapProvider } from '../../providers/gnap/index.js';
import { getCondition, setCondition } from '../../runtime/conditions.js';
import { crashPoint } from '../../runtime/crash-points.js';
import { adoptFromSecret } from '../shared/adopt.js';
import { repairDrift } from '../shared/drift.js';
import { InputError, SecretReader } from '../shared/inputs.js';
import { dataHmac } from '../shared/secret-state.js';
import { readPrivate, savePrivate } from '../shared/state-secret.js';
import type { KindContext, KindOutcome, TokenKind } from '../shared/token-reconciler.js';
import { ownerRef, writeCredential } from '../shared/write-secret.js';
import { gnapVariant } from './gnap.js';
import { oidcVariant, type OidcProviderFactory } from './oidc.js';
import {
  chooseCredential,
  failedWithoutEffect,
  grantTypeOf,
  nextRenewal,
  planAccessToken,
  type AccessTokenPlan,
  type CredentialSource,
  type GrantType,
} from './plan.js';
import type { Refusal, Renewed, Variant } from './variant.js';

export interface AccessTokenDeps {
  /** builds an OIDC client per resource (its issuer, client id and secret) */
  oidc: OidcProviderFactory;
  gnap: GnapProvider;
}

/**
 * Facts the status also holds, written on the Secret with the credential: if the process
 * dies between the Secret write and the status write, the next reconcile adopts them
 * (../shared/adopt.ts) instead of presenting a spent seed.
 */
const SECRET_ANNOTATIONS = {
  seedHmac: 'token-operator.io/seed-hmac',
  refreshExpiresAt: 'token-operator.io/refresh-expires-at',
  rotateRequest: 'token-operator.io/rotate-request',
} as const;

/**
 * While a refusal waits for a person, the seed Secret is read (one GET, no provider call)
 * this often: seed Secrets are the user's, unlabelled, so no watch wakes us when they change.
 */
const SEED_POLL_MS = 60_000;

type Refresh = Extract<AccessTokenPlan, { action: 'Refresh' }>;

/** A renewal the provider answered but whose Secret write has not landed yet. */
interface Unwritten<C> {
  renewed: Renewed<C>;
  at: Date;
  source: CredentialSource;
  seedHmac?: string;
  rotateRequest?: string;
}

interface Seed<C> {
  seed?: C;
  hmac?: string;
  error?: InputError;
}

const statusOf = (ctx: KindContext) => ctx.status as AccessTokenStatus;

/** Set (persisted) before a revoke request goes out: a later attempt may then read 401 as "already revoked". */
const REVOKE_SENT = { type: 'Revoking', status: 'True', reason: 'RevokeSent', message: 'the revocation was sent to the provider; the resource goes once it is confirmed' } as const;

export function accessTokenKind(deps: AccessTokenDeps): TokenKind<AccessToken> {
  const executors = { oidc: executor(oidcVariant(deps.oidc)), gnap: executor(gnapVariant(deps.gnap)) };
  const of = (g: GrantType) => executors[g];

  return {
    kind: 'AccessToken',
    plural: 'accesstokens',

    async reconcile(res, ctx) {
      adopt(res, ctx);
      // A credential the provider handed out but that did not reach the Secret yet goes
      // first, before any plan: it is the only live one.
      for (const ex of Object.values(executors)) {
        const waiting = ex.persistUnwritten(res, ctx);
        if (waiting) return waiting;
      }
      // An edited or deleted Secret is written back from the state Secret: never a renewal
      // (a GNAP rotation would kill the token every consumer holds).
      const held = await repairDrift(res, ctx);
      if (held) return held;

      const plan = planAccessToken({ ...res, status: statusOf(ctx) }, ctx.secret, ctx.now);
      ctx.log.debug({ action: plan.action, ...('reason' in plan ? { reason: plan.reason } : {}) }, 'planned');
      switch (plan.action) {
        case 'Suspended': {
          const exp = statusOf(ctx).expirationTime;
          const valid = exp !== undefined && Date.parse(exp) > ctx.now.getTime();
          return { ready: { status: valid ? 'True' : 'False', reason: 'Suspended', message: 'spec.suspend is true: no provider calls; the Secret is left as it is' } };
        }
        case 'InvalidSpec':
          throw new InputError('InvalidSpec', plan.message);
        case 'Wait':
          return readyOutcome(ctx, plan.nextRotation, readyReasonOf(ctx));
        case 'AwaitNewSeed':
          return of(grantTypeOf(res)!).awaitNewSeed(res, ctx, plan.refusal);
        case 'Refresh':
          return of(plan.grantType).renew(res, ctx, plan);
      }
    },

    async revoke(res, ctx) {
      const g = grantTypeOf(res);
      if (g) await of(g).revoke(res, ctx);
    },

    forget(res) {
      for (const ex of Object.values(executors)) ex.forget(res.metadata.uid);
    },

    async verify(res, ctx, data) {
      const g = grantTypeOf(res);
      return g ? of(g).verify(res, ctx, data) : unknown('spec: set exactly one of oidc and gnap');
    },

    stillValid(res) {
      if (res.spec.gnap) {
        const until = res.status?.expirationTime ? ` until ${res.status.expirationTime}` : '';
        return `The GNAP access token stays valid${until}, and its grant until it is revoked at the authorization server of ${res.spec.gnap.walletAddressUrl}: revoke the grant there`;
      }
      const until = res.status?.refreshTokenExpirationTime ? ` until ${res.status.refreshTokenExpirationTime}` : ' (an offline token does not expire)';
      return `The refresh token chain of client "${res.spec.oidc?.clientId ?? ''}" stays valid${until}: end the user's session (or revoke the offline consent) in the identity provider`;
    },
  };
}

/** The renew/persist/revoke story for one variant, with its in-memory hand-over maps. */
function executor<C>(v: Variant<C>) {
  // Renewed but not yet in the Secret (writeCredential gave up after its retries), by uid.
  // Survives failed reconciles, not a crash: a crash is what pendingRefreshSince is for.
  const unwritten = new Map<string, Unwritten<C>>();
  // The credential this process last wrote, by uid: if someone deletes the target Secret,
  // the chain continues from here instead of from a spent seed.
  const lastWritten = new Map<string, C>();
  // Resources whose revoke was sent without a clear answer: a 401 next time means "gone".
  const revokeSent = new Set<string>();

  async function readSeed(res: AccessToken, ctx: KindContext, reader: SecretReader): Promise<Seed<C>> {
    try {
      const seed = await v.readSeed(res, reader);
      return { seed, hmac: dataHmac(ctx.env.hmacKey, v.toPrivate(seed)) };
    } catch (e) {
      if (e instanceof InputError) return { error: e };
      throw e;
    }
  }

  /**
   * The live credential the operator keeps: the state Secret's private part (one GET, at renewal
   * and revoke only); from older versions, or with exposeRefreshToken, the target Secret's copy
   * (not a templated one: its keys are the template's).
   */
  async function kept(res: AccessToken, ctx: KindContext): Promise<C | undefined> {
    const priv = await readPrivate(ctx.env.client, res.metadata.namespace, res.metadata.uid);
    const fromState = priv ? v.fromPrivate(priv) : undefined;
    return fromState ?? (ctx.secret.exists && ctx.secret.owned && !ctx.secret.templated ? v.fromPrivate(ctx.secret.data) : undefined);
  }

  /** Stores a credential the provider just handed out, before anything else about the answer is checked. */
  function saver(res: AccessToken, ctx: KindContext) {
    return async (next: C): Promise<void> => {
      lastWritten.set(res.metadata.uid, next);
      try {
        await savePrivate(ctx.env.client, res.metadata.namespace, ownerRef(res), res.spec.target.secretName, v.toPrivate(next));
      } catch (e) {
        // still in memory: the write that follows (with its retries) stores it with the access token
        ctx.log.warn({ err: e instanceof Error ? sanitize(e.message) : 'non-error thrown' }, 'could not save the new credential at once; it is written with the access token');
      }
    };
  }

  async function renew(res: AccessToken, ctx: KindContext, plan: Refresh, newSeed?: Seed<C>): Promise<KindOutcome> {
    const status = statusOf(ctx);
    const reader = new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes);
    const stored = newSeed ? undefined : await kept(res, ctx);
    const memory = lastWritten.get(res.metadata.uid);
    const seed = newSeed ?? (await readSeed(res, ctx, reader));
    const source: CredentialSource | undefined = newSeed
      ? 'seed'
      : chooseCredential({ seedHmac: seed.hmac, recordedSeedHmac: status.seedHMAC, hasStored: !!stored, hasMemory: !!memory });
    const credential = source === 'seed' ? seed.seed : source === 'stored' ? stored : source === 'memory' ? memory : undefined;
    if (!source || !credential) throw seed.error ?? new InputError('SecretNotFound', `no credential to renew: ${v.seedLocation(res)} is missing`);
    const call = await v.prepare(res, ctx, reader, credential, saver(res, ctx));
    const recoveringSince = plan.recovering ? status.pendingRefreshSince : undefined;
    ctx.log.info({ reason: plan.reason, source, grantType: v.grantType }, 'renewing the access token');

    // The crash marker lands before the call: once the provider answers, the presented
    // credential may be spent, and only the Secret write makes the new one safe.
    await markPending(res, ctx);
    let renewed: Renewed<C>;
    try {
      renewed = await call();
    } catch (e) {
      const refusal = v.refusal(e, res, { source, ...(recoveringSince ? { recoveringSince } : {}) });
      if (refusal) return refused(ctx, refusal, seed.hmac, plan.rotateRequest);
      // A definite 4xx changed nothing at the provider; anything else may have (the reply
      // was lost): then the marker stays and the next attempt is a recovery.
      if (!recoveringSince && failedWithoutEffect(isProviderError(e) ? e : undefined)) delete status.pendingRefreshSince;
      throw e;
    }
    crashPoint(v.afterRenewCrashPoint);
    const u: Unwritten<C> = {
      renewed,
      at: ctx.now,
      source,
      ...(plan.rotateRequest !== undefined ? { rotateRequest: plan.rotateRequest } : {}),
    };
    const seedHmac = source === 'seed' || status.seedHMAC === undefined ? seed.hmac : status.seedHMAC;
    if (seedHmac) u.seedHmac = seedHmac;
    unwritten.set(res.metadata.uid, u);
    return persist(res, ctx, u);
  }

  /** Records on the API server, before the revoke request goes out, that one was sent. */
  async function markRevokeSent(res: AccessToken, ctx: KindContext): Promise<void> {
    const status = statusOf(ctx);
    status.conditions = setCondition(status.conditions, REVOKE_SENT, ctx.now, res.metadata.generation);
    await ctx.writeStatusNow();
  }

  /** Sets status.pendingRefreshSince on the API server now, not at the end of the reconcile. */
  async function markPending(res: AccessToken, ctx: KindContext): Promise<void> {
    const status = statusOf(ctx);
    if (status.pendingRefreshSince) return; // a recovery keeps the first mark
    status.pendingRefreshSince = ctx.now.toISOString();
    // (the final write then diffs against this one, so clearing the mark is written too)
    await ctx.writeStatusNow();
  }

  async function persist(res: AccessToken, ctx: KindContext, u: Unwritten<C>): Promise<KindOutcome> {
    const status = statusOf(ctx);
    const first = !status.revision;
    const revision = (status.revision ?? 0) + 1;
    const refreshExpiresAt = u.renewed.refreshExpiresAt instanceof Date ? u.renewed.refreshExpiresAt.toISOString() : undefined;
    const handledRequest = u.rotateRequest ?? status.lastHandledRotateRequest;
    const annotations = {
      ...res.spec.target.annotations,
      ...(u.seedHmac ? { [SECRET_ANNOTATIONS.seedHmac]: u.seedHmac } : {}),
      ...(refreshExpiresAt ? { [SECRET_ANNOTATIONS.refreshExpiresAt]: refreshExpiresAt } : {}),
      ...(handledRequest !== undefined ? { [SECRET_ANNOTATIONS.rotateRequest]: handledRequest } : {}),
    };
    const hmac = await writeCredential(
      ctx,
      { ...res, spec: { ...res.spec, target: { ...res.spec.target, annotations } } },
      { data: u.renewed.data, private: v.toPrivate(u.renewed.next), revision, rotatedAt: u.at, expiresAt: u.renewed.expiresAt },
    );
    unwritten.delete(res.metadata.uid);
    lastWritten.set(res.metadata.uid, u.renewed.next);
    crashPoint('accesstoken:after-secret-write');

    status.revision = revision;
    status.secretHMAC = hmac;
    status.grantType = v.grantType;
    status.expirationTime = u.renewed.expiresAt.toISOString();
    status.lastRotationTime = u.at.toISOString();
    if (refreshExpiresAt) status.refreshTokenExpirationTime = refreshExpiresAt;
    else delete status.refreshTokenExpirationTime;
    if (u.seedHmac) status.seedHMAC = u.seedHmac;
    if (u.rotateRequest !== undefined) status.lastHandledRotateRequest = u.rotateRequest;
    delete status.pendingRefreshSince;
    delete status.credentialRefused;
    const next = nextRenewal(res, status)!.at;
    const reason = first ? 'Issued' : 'Rotated';
    return {
      ...readyOutcome(ctx, next, reason),
      events: [{ type: 'Normal', reason, message: `Secret ${res.spec.target.secretName} revision ${revision}; expires ${status.expirationTime}` }],
      // GNAP revokes the previous token at once: consumers must restart now, not after a debounce.
      restartImmediately: v.grantType === 'gnap',
    };
  }

  function refused(ctx: KindContext, refusal: Refusal, seedHmac: string | undefined, rotateRequest: string | undefined): KindOutcome {
    const status = statusOf(ctx);
    status.credentialRefused = refusal.reason;
    // only a seed different from the one at hand resumes: the same value would be refused again
    if (seedHmac) status.seedHMAC = seedHmac;
    if (rotateRequest !== undefined) status.lastHandledRotateRequest = rotateRequest;
    delete status.pendingRefreshSince;
    ctx.log.warn({ reason: refusal.reason }, 'the provider refused the credential; waiting for a new seed');
    return { ...stalledOutcome(refusal), events: [{ type: 'Warning', reason: refusal.reason, message: refusal.message }] };
  }

  async function awaitNewSeed(res: AccessToken, ctx: KindContext, refusal: string): Promise<KindOutcome> {
    const reader = new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes);
    const seed = await readSeed(res, ctx, reader);
    if (seed.seed && seed.hmac !== statusOf(ctx).seedHMAC) {
      return renew(res, ctx, { action: 'Refresh', grantType: v.grantType, reason: 'NewSeed', recovering: false }, seed);
    }
    const stalled = getCondition(statusOf(ctx).conditions, 'Stalled');
    const message =
      stalled?.status === 'True' && stalled.reason === refusal
        ? stalled.message
        : `the provider refused the credential (${refusal}); put a new one into ${v.seedLocation(res)}: the operator uses it as soon as the value changes`;
    return stalledOutcome({ reason: refusal, message });
  }

  async function revoke(res: AccessToken, ctx: KindContext): Promise<void> {
    const status = statusOf(ctx);
    const uid = res.metadata.uid;
    const reader = new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes);
    let credential = unwritten.get(uid)?.renewed.next ?? (await kept(res, ctx)) ?? lastWritten.get(uid);
    let fromSeed = false;
    if (!credential) {
      const seed = await readSeed(res, ctx, reader);
      if (!seed.seed) {
        ctx.log.info('nothing to revoke: no credential in the target Secret and no seed');
        return;
      }
      credential = seed.seed;
      fromSeed = true;
    }
    // Reasons to think the token is dead already (GNAP answers 401 to a second revoke).
    // A revoke sent by an earlier attempt, possibly by a process that died before releasing the
    // finalizer (crash point finalize:after-revoke): persisted as a condition, since the
    // in-memory revokeSent does not survive a restart and GNAP answers 401 to a second revoke.
    const sentBefore = getCondition(status.conditions, REVOKE_SENT.type)?.status === 'True';
    const mayAlreadyBeRevoked =
      !!status.pendingRefreshSince || !!status.credentialRefused || (fromSeed && (status.revision ?? 0) > 0) || revokeSent.has(uid) || sentBefore;
    if (!sentBefore) await markRevokeSent(res, ctx);
    try {
      await v.revoke(res, ctx, reader, credential, mayAlreadyBeRevoked);
    } catch (e) {
      if (!failedWithoutEffect(isProviderError(e) ? e : undefined)) revokeSent.add(uid);
      throw e;
    }
  }

  return {
    renew,
    awaitNewSeed,
    revoke,
    /** writes a renewal still waiting for its Secret write, if there is one */
    persistUnwritten(res: AccessToken, ctx: KindContext): Promise<KindOutcome> | undefined {
      const u = unwritten.get(res.metadata.uid);
      return u ? persist(res, ctx, u) : undefined;
    },
    /** liveness of the credential in the target Secret (its operator-written keys), never a renewal */
    verify: (res: AccessToken, ctx: KindContext, data: Record<string, string>) =>
      v.verify(res, ctx, new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes), data),
    forget(uid: string) {
      unwritten.delete(uid);
      lastWritten.delete(uid);
      revokeSent.delete(uid);
    },
  };
}

function readyOutcome(ctx: KindContext, next: Date, reason: string): KindOutcome {
  ctx.status.nextRotationTime = next.toISOString();
  return {
    ready: { status: 'True', reason, message: `access token valid until ${ctx.status.expirationTime}; next renewal ${next.toISOString()}` },
    conditions: [{ type: 'Rotating', status: 'False', reason: 'Idle', message: '' }],
    requeueAfterMs: Math.max(1000, next.getTime() - ctx.now.getTime()),
  };
}

function stalledOutcome(r: Refusal): KindOutcome {
  return {
    ready: { status: 'False', reason: r.reason, message: r.message },
    conditions: [
      { type: 'Stalled', status: 'True', reason: r.reason, message: r.message },
      { type: 'Rotating', status: 'False', reason: r.reason, message: '' },
    ],
    requeueAfterMs: SEED_POLL_MS,
  };
}

function readyReasonOf(ctx: KindContext): string {
  const r = getCondition(ctx.status.conditions, 'Ready');
  return r?.status === 'True' && (r.reason === 'Issued' || r.reason === 'Rotated') ? r.reason : 'Issued';
}

/**
 * The Secret is written before the status. If the process died in between, its
 * annotations are ahead of status: take the facts from there, and the crash marker is
 * moot (the answer it guarded did land).
 */
function adopt(res: AccessToken, ctx: KindContext): void {
  const status = statusOf(ctx);
  if (!adoptFromSecret(status, ctx.secret)) return;
  const a = ctx.env.secrets.get(res.metadata.namespace, res.spec.target.secretName)?.metadata?.annotations ?? {};
  const grantType = grantTypeOf(res);
  if (grantType) status.grantType = grantType;
  status.secretHMAC = dataHmac(ctx.env.hmacKey, ctx.secret.data);
  if (a[SECRET_ANNOTATIONS.seedHmac]) status.seedHMAC = a[SECRET_ANNOTATIONS.seedHmac];
  if (a[SECRET_ANNOTATIONS.refreshExpiresAt]) status.refreshTokenExpirationTime = a[SECRET_ANNOTATIONS.refreshExpiresAt];
  else delete status.refreshTokenExpirationTime;
  if (a[SECRET_ANNOTATIONS.rotateRequest]) status.lastHandledRotateRequest = a[SECRET_ANNOTATIONS.rotateRequest];
  delete status.pendingRefreshSince;
  delete status.credentialRefused;
  ctx.log.info({ revision: status.revision }, 'adopted a Secret written before the status (crash or failed status write)');
}
