import { FLOORS, type DataToken, type DataTokenStatus } from '../../api/index.js';
import type { HttpClient, ObservedCall } from '../../providers/http.js';
import { isProviderError } from '../../providers/errors.js';
import { AuthorizationCache, DataTokenListings, createPrivicoreProvider, type PollingOptions, type PrivicoreProvider } from '../../providers/privicore/index.js';
import { ALIVE } from '../../providers/liveness.js';
import { crashPoint } from '../../runtime/crash-points.js';
import type { Clock } from '../../schedule/clock.js';
import { atLeast } from '../../schedule/duration.js';
import { adoptFromSecret } from '../shared/adopt.js';
import { repairDrift } from '../shared/drift.js';
import { InputError, SecretReader, checkEndpoint } from '../shared/inputs.js';
import { livenessIntervalMs } from '../shared/liveness.js';
import { dataHmac } from '../shared/secret-state.js';
import type { KindContext, KindOutcome, TokenKind } from '../shared/token-reconciler.js';
import { writeCredential } from '../shared/write-secret.js';
import { KEYS, nextRefreshTime, planDataToken, type DataTokenPlan } from './plan.js';

const DEFAULT_AUTHORIZATION_TTL = '24h';
export const DEFAULT_CHECK_INTERVAL_MS = 60_000;
const MAX_PENDING_REMOVALS = 64;
const LIST_PAGE_SIZE = 100;
const MAX_LIST_PAGES = 100;

/**
 * Facts the Secret carries beyond the shared annotations, so that a crash between the
 * Secret write and the status write (crash point datatoken:after-secret-write) is adopted
 * without exchanging the same input again.
 */
const ANNOTATIONS = {
  sourceHmac: 'token-operator.io/source-hmac',
  rotateRequest: 'token-operator.io/handled-rotate-request',
} as const;

export interface DataTokenKindDeps {
  http: HttpClient;
  clock: Clock;
  observe?: (o: ObservedCall) => void;
  /** ONE per process, so all DataTokens of a profile share one login; created here when absent */
  authorizations?: AuthorizationCache;
  polling?: Partial<PollingOptions>;
}

/** What the resource references, read fresh on every reconcile (GETs: the Secret is not ours to cache). */
type Input =
  | { mode: 'source'; data: Buffer; context: string; hmac: string }
  | { mode: 'tokenRef'; token: string; hmac: string };

/** An exchange whose Secret write did not land yet; kept across failed reconciles, not across a crash. */
interface Pending {
  inputHmac: string;
  token: string;
  /** tokenRef mode: the downloaded data */
  data?: string;
  rotateRequest?: string;
  reason: string;
}

export function dataTokenKind(deps: DataTokenKindDeps): TokenKind<DataToken> {
  const authorizations = deps.authorizations ?? new AuthorizationCache({ clock: deps.clock });
  // liveness checks of a profile's data tokens share one listing (providers/privicore/liveness.ts)
  const listings = new DataTokenListings({ clock: deps.clock });
  const pending = new Map<string, Pending>();

  async function privicore(res: DataToken, ctx: KindContext, secrets: SecretReader): Promise<PrivicoreProvider> {
    const p = res.spec.privicore;
    checkEndpoint(p.apiUrl, 'spec.privicore.apiUrl', p.allowInsecureHttp, ctx.env.allowInsecureHttp);
    const ref = p.profileSecretRef.name;
    const field = 'spec.privicore.profileSecretRef';
    const profile = { username: await secrets.value(ref, 'username', field), password: await secrets.value(ref, 'password', field) };
    return createPrivicoreProvider({
      http: deps.http,
      clock: deps.clock,
      apiUrl: p.apiUrl,
      profile,
      authorizations,
      listings,
      ...(p.allowInsecureHttp && ctx.env.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
      authorizationTtlSeconds: Math.round(atLeast(p.authorizationTtl ?? DEFAULT_AUTHORIZATION_TTL, FLOORS.authorizationTtl) / 1000),
      ...(deps.observe ? { observe: deps.observe } : {}),
      ...(deps.polling ? { polling: deps.polling } : {}),
    });
  }

  async function readInput(res: DataToken, ctx: KindContext, secrets: SecretReader): Promise<Input> {
    const apiUrl = res.spec.privicore.apiUrl;
    const { source, tokenRef } = res.spec;
    if (source) {
      const ref = source.secretKeyRef;
      const data = await secrets.bytes(ref.name, ref.key, 'spec.source.secretKeyRef');
      if (data.length === 0) throw new InputError('InvalidSecretValue', `spec.source.secretKeyRef: key "${ref.key}" of Secret "${ref.name}" is empty`);
      // The context and endpoint are part of the input: changing either exchanges again.
      const hmac = dataHmac(ctx.env.hmacKey, { apiUrl, context: source.context, data: data.toString('base64') });
      return { mode: 'source', data, context: source.context, hmac };
    }
    if (!tokenRef) throw new InputError('InvalidSpec', 'spec: set exactly one of source and tokenRef');
    const ref = tokenRef.secretKeyRef;
    const token = await secrets.value(ref.name, ref.key, 'spec.tokenRef.secretKeyRef');
    return { mode: 'tokenRef', token, hmac: dataHmac(ctx.env.hmacKey, { apiUrl, token }) };
  }

  function checkIntervalMs(res: DataToken): number {
    const text = res.spec.source?.checkInterval ?? res.spec.tokenRef?.checkInterval;
    return text ? atLeast(text, FLOORS.checkInterval) : DEFAULT_CHECK_INTERVAL_MS;
  }

  /**
   * The Secret is written before the status. After a crash in between, take the facts
   * from the Secret; a token it replaced (ours, Revoke) is queued for removal.
   */
  function adopt(res: DataToken, ctx: KindContext): void {
    const status = ctx.status as DataTokenStatus;
    const before = { tokenId: status.tokenId, origin: status.tokenOrigin };
    if (!adoptFromSecret(status, ctx.secret)) return;
    const annotations = ctx.env.secrets.get(res.metadata.namespace, res.spec.target.secretName)?.metadata?.annotations ?? {};
    const hmac = annotations[ANNOTATIONS.sourceHmac];
    if (hmac) status.sourceHMAC = hmac;
    const handled = annotations[ANNOTATIONS.rotateRequest];
    if (handled) status.lastHandledRotateRequest = handled;
    // a templated Secret's keys are the template's: the mode says which it was
    const tokenized = ctx.secret.templated ? res.spec.source !== undefined : ctx.secret.data[KEYS.dataToken] !== undefined;
    status.tokenOrigin = tokenized ? 'Tokenized' : 'Referenced';
    status.secretHMAC = dataHmac(ctx.env.hmacKey, ctx.secret.data);
    if (before.origin === 'Tokenized' && before.tokenId && before.tokenId !== status.tokenId) queueRemoval(res, ctx, before.tokenId);
    ctx.log.info({ revision: status.revision }, 'adopted a Secret written before an interrupted status update');
  }

  /** Only tokens this resource created, and only under deletionPolicy Revoke (Retain leaves them alone). */
  function queueRemoval(res: DataToken, ctx: KindContext, token: string): void {
    if (res.spec.deletionPolicy !== 'Revoke') return;
    const status = ctx.status as DataTokenStatus;
    const list = [...(status.pendingRemovals ?? []).filter((t) => t !== token), token];
    if (list.length > MAX_PENDING_REMOVALS) ctx.log.warn({ dropped: list.length - MAX_PENDING_REMOVALS }, 'too many replaced data tokens pending removal; forgetting the oldest');
    status.pendingRemovals = list.slice(-MAX_PENDING_REMOVALS);
  }

  /** Deletes replaced tokens one by one, recording progress so a failure part-way keeps what was done. */
  async function removeReplaced(ctx: KindContext, provider: PrivicoreProvider): Promise<number> {
    const status = ctx.status as DataTokenStatus;
    let removed = 0;
    for (const token of [...(status.pendingRemovals ?? [])]) {
      await provider.remove({ token });
      removed++;
      const rest = (status.pendingRemovals ?? []).filter((t) => t !== token);
      if (rest.length) status.pendingRemovals = rest;
      else delete status.pendingRemovals;
    }
    return removed;
  }

  async function recordAuthorization(ctx: KindContext, provider: PrivicoreProvider): Promise<void> {
    // Just used, so this is the cached authorization: no extra request.
    const auth = await provider.authorization();
    (ctx.status as DataTokenStatus).authorizationExpirationTime = auth.expiresAt.toISOString();
  }

  function readyOutcome(res: DataToken, ctx: KindContext, reason: string): KindOutcome {
    const status = ctx.status as DataTokenStatus;
    const check = checkIntervalMs(res);
    let message: string;
    let requeueAfterMs = check;
    if (res.spec.source) {
      const ref = res.spec.source.secretKeyRef;
      delete status.nextRotationTime;
      message = `data token issued for key "${ref.key}" of Secret "${ref.name}"; it does not expire and is exchanged again when that data changes`;
    } else {
      const ref = res.spec.tokenRef!.secretKeyRef;
      const next = nextRefreshTime(res, new Date(status.lastRotationTime ?? ctx.now), status.revision ?? 0);
      status.nextRotationTime = next.toISOString();
      message = `data resolved from the token in key "${ref.key}" of Secret "${ref.name}"; next refresh ${next.toISOString()}`;
      requeueAfterMs = Math.min(check, Math.max(1000, next.getTime() - ctx.now.getTime()));
    }
    return {
      ready: { status: 'True', reason, message },
      conditions: [{ type: 'Rotating', status: 'False', reason: 'Idle', message: '' }],
      requeueAfterMs,
    };
  }

  async function exchange(
    res: DataToken,
    ctx: KindContext,
    secrets: SecretReader,
    input: Input,
    plan: Extract<DataTokenPlan, { action: 'Tokenize' | 'Resolve' }>,
  ): Promise<KindOutcome> {
    const provider = await privicore(res, ctx, secrets);
    let p: Pending;
    if (input.mode === 'source') {
      // Tagged with our uid, so tokens orphaned by a crash before the Secret write can
      // be found and deleted when the resource is deleted (Revoke).
      const { token } = await provider.tokenize({ data: input.data, context: input.context, fileName: tagFileName(res) });
      crashPoint('datatoken:after-exchange');
      p = { inputHmac: input.hmac, token, reason: plan.reason };
    } else {
      const { data } = await provider.resolve({ token: input.token });
      crashPoint('datatoken:after-exchange');
      const text = data.toString('utf8');
      if (!Buffer.from(text, 'utf8').equals(data)) {
        throw new InputError('InvalidSecretValue', 'spec.tokenRef: the data behind the token is not UTF-8 text; binary payloads cannot be written to the Secret yet');
      }
      p = { inputHmac: input.hmac, token: input.token, data: text, reason: plan.reason };
    }
    if (plan.rotateRequest) p.rotateRequest = plan.rotateRequest;
    pending.set(res.metadata.uid, p);
    return persist(res, ctx, p, provider);
  }

  async function persist(res: DataToken, ctx: KindContext, p: Pending, provider?: PrivicoreProvider, restored = false): Promise<KindOutcome> {
    const status = ctx.status as DataTokenStatus;
    const tokenized = p.data === undefined;
    const revision = (status.revision ?? 0) + 1;
    const rotateRequest = p.rotateRequest ?? status.lastHandledRotateRequest;
    const data: Record<string, string> = tokenized ? { [KEYS.dataToken]: p.token, [KEYS.context]: res.spec.source?.context ?? '' } : { [KEYS.data]: p.data! };
    const hmac = await writeCredential(
      ctx,
      withAnnotations(res, { [ANNOTATIONS.sourceHmac]: p.inputHmac, ...(rotateRequest ? { [ANNOTATIONS.rotateRequest]: rotateRequest } : {}) }),
      { data, revision, rotatedAt: ctx.now, tokenId: p.token },
    );
    pending.delete(res.metadata.uid);
    crashPoint('datatoken:after-secret-write');

    const replaced = status.tokenOrigin === 'Tokenized' && status.tokenId !== p.token ? status.tokenId : undefined;
    const first = !status.tokenId;
    status.revision = revision;
    status.secretHMAC = hmac;
    status.sourceHMAC = p.inputHmac;
    status.tokenId = p.token;
    status.tokenOrigin = tokenized ? 'Tokenized' : 'Referenced';
    status.lastRotationTime = ctx.now.toISOString();
    delete status.expirationTime;
    if (p.rotateRequest) status.lastHandledRotateRequest = p.rotateRequest;
    // The new token is in the Secret before the one it replaces is deleted (rotation overlap).
    if (replaced) queueRemoval(res, ctx, replaced);

    if (restored) {
      const message = `Secret ${res.spec.target.secretName} was missing or edited; the known data token was written back (revision ${revision})`;
      return { ...readyOutcome(res, ctx, readyReasonOf(ctx)), events: [{ type: 'Warning', reason: 'SecretRestored', message }] };
    }
    const reason = first ? 'Issued' : 'Rotated';
    const what = tokenized ? 'data token' : 'data';
    const events: KindOutcome['events'] = [{ type: 'Normal', reason, message: `Secret ${res.spec.target.secretName} revision ${revision}: new ${what} (${p.reason})` }];
    if (provider) {
      await recordAuthorization(ctx, provider);
      if (res.spec.deletionPolicy === 'Revoke' && status.pendingRemovals?.length) {
        const n = await removeReplaced(ctx, provider);
        events.push({ type: 'Normal', reason: 'ReplacedTokenDeleted', message: `deleted ${n} replaced data token(s) at Privicore` });
      }
    }
    return { ...readyOutcome(res, ctx, reason), events };
  }

  /** Deletes every data token tagged with this resource's uid (crash orphans included). */
  async function sweepOrphans(res: DataToken, ctx: KindContext, provider: PrivicoreProvider, keep: Set<string>): Promise<void> {
    const tag = tagFileName(res);
    const ours: string[] = [];
    try {
      for (let page = 1; page <= MAX_LIST_PAGES; page++) {
        const list = await provider.listDataTokens(page, LIST_PAGE_SIZE);
        for (const item of list.items) if (item.fileName === tag && !keep.has(item.token)) ours.push(item.token);
        if (list.items.length < LIST_PAGE_SIZE || page * LIST_PAGE_SIZE >= list.meta.count) break;
      }
    } catch (e) {
      // list-data-tokens is known only from the third-party probe (providers.md §3.4): a
      // server without it must not keep the resource from being deleted.
      if (isProviderError(e) && (e.kind === 'NotFound' || e.kind === 'Invalid')) {
        ctx.log.warn({ err: e.message }, 'cannot list data tokens; orphans from interrupted exchanges (if any) are left at Privicore');
        return;
      }
      throw e;
    }
    for (const token of ours) await provider.remove({ token });
    if (ours.length) ctx.log.info({ count: ours.length }, 'deleted orphaned data tokens');
  }

  return {
    kind: 'DataToken',
    plural: 'datatokens',

    async reconcile(res, ctx) {
      const status = ctx.status as DataTokenStatus;
      adopt(res, ctx);
      if (res.spec.suspend) {
        const ready = Boolean(status.tokenId) && ctx.secret.exists;
        return { ready: { status: ready ? 'True' : 'False', reason: 'Suspended', message: 'spec.suspend is true: no provider calls; the Secret is left as it is' } };
      }
      const secrets = new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes);
      const input = await readInput(res, ctx, secrets);

      const waiting = pending.get(res.metadata.uid);
      if (waiting) {
        if (waiting.inputHmac === input.hmac) return persist(res, ctx, waiting);
        // The input moved on before the Secret write landed: that token was never published.
        pending.delete(res.metadata.uid);
        if (waiting.data === undefined) queueRemoval(res, ctx, waiting.token);
      }

      // An edited or deleted Secret is written back from the state Secret (tokenRef data
      // included): no exchange. RestoreSecret/SecretLost below are the fallback without it.
      const held = await repairDrift(res, ctx);
      if (held) return held;
      const plan = planDataToken({ ...res, status }, ctx.secret, input.hmac, ctx.now);
      ctx.log.debug({ action: plan.action }, 'planned');
      switch (plan.action) {
        case 'Suspended': // handled above, before any read
        case 'Wait':
          return readyOutcome(res, ctx, readyReasonOf(ctx));
        case 'RestoreSecret':
          return persist(res, ctx, { inputHmac: input.hmac, token: status.tokenId!, reason: plan.reason }, undefined, true);
        case 'RemoveReplaced': {
          const provider = await privicore(res, ctx, secrets);
          const n = await removeReplaced(ctx, provider);
          await recordAuthorization(ctx, provider);
          return { ...readyOutcome(res, ctx, readyReasonOf(ctx)), events: [{ type: 'Normal', reason: 'ReplacedTokenDeleted', message: `deleted ${n} replaced data token(s) at Privicore` }] };
        }
        case 'Tokenize':
        case 'Resolve':
          return exchange(res, ctx, secrets, input, plan);
      }
    },

    async revoke(res, ctx) {
      // Only what this resource created: the referenced token of tokenRef mode is someone else's data.
      const status = ctx.status as DataTokenStatus;
      const provider = await privicore(res, ctx, new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes));
      const waiting = pending.get(res.metadata.uid);
      if (waiting && waiting.data === undefined) queueRemoval(res, ctx, waiting.token);
      if (status.tokenOrigin === 'Tokenized' && status.tokenId) queueRemoval(res, ctx, status.tokenId);
      await removeReplaced(ctx, provider);
      await sweepOrphans(res, ctx, provider, new Set(status.tokenOrigin === 'Referenced' && status.tokenId ? [status.tokenId] : []));
    },

    forget(res) {
      pending.delete(res.metadata.uid);
    },

    async verify(res, ctx) {
      const status = ctx.status as DataTokenStatus;
      const provider = await privicore(res, ctx, new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes));
      // The profile authorization is the operator's own (in no Secret): refused, it is replaced, not reported.
      const auth = await provider.authorizationLiveness();
      if (auth.relogged) ctx.log.warn('Privicore refused the profile authorization (revoked or expired out of band); logged in again');
      if (auth.liveness.state !== 'alive') return auth.liveness;
      // A referenced token (tokenRef mode) may be another profile's: not in this profile's listing.
      if (status.tokenOrigin !== 'Tokenized' || !status.tokenId) return ALIVE;
      // a listing taken up to a tenth of the interval before serves this check too (one per profile, not per token)
      const maxAgeMs = (livenessIntervalMs(res.spec.liveness) ?? 0) / 10;
      return provider.dataTokenLiveness(status.tokenId, status.lastRotationTime ? new Date(status.lastRotationTime) : undefined, maxAgeMs);
    },

    stillValid(res) {
      if (!res.spec.source) return 'In tokenRef mode the operator created nothing at Privicore: nothing else to revoke.';
      return (
        `Data tokens this resource created stay stored at Privicore (file name ${tagFileName(res)}, ` +
        `profile in Secret "${res.spec.privicore.profileSecretRef.name}"): delete them there`
      );
    },
  };
}

/** The file name every token this resource creates carries at Privicore (ours to delete). */
function tagFileName(res: DataToken): string {
  return `token-operator-${res.metadata.uid}.bin`;
}

function withAnnotations(res: DataToken, extra: Record<string, string>): DataToken {
  return { ...res, spec: { ...res.spec, target: { ...res.spec.target, annotations: { ...res.spec.target.annotations, ...extra } } } };
}

function readyReasonOf(ctx: KindContext): string {
  const r = ctx.status.conditions?.find((c) => c.type === 'Ready');
  return r?.status === 'True' && (r.reason === 'Issued' || r.reason === 'Rotated') ? r.reason : 'Issued';
}
