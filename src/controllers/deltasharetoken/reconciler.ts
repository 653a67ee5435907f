import type { DeltaShareToken, DeltaShareTokenStatus } from '../../api/index.js';
import type { DdsAccount, DdsProvider, DdsToken, DeltaSharingProfile } from '../../providers/dds/index.js';
import { unknown } from '../../providers/liveness.js';
import { crashPoint } from '../../runtime/crash-points.js';
import { parseDuration } from '../../schedule/duration.js';
import { nextRotationTime } from '../../schedule/rotation.js';
import { adoptFromSecret } from '../shared/adopt.js';
import { repairDrift } from '../shared/drift.js';
import { ReconcileError } from '../shared/failures.js';
import { SecretReader, checkEndpoint } from '../shared/inputs.js';
import { CREDENTIAL_REVOKED } from '../shared/liveness.js';
import { dataHmac } from '../shared/secret-state.js';
import { credentialFields } from '../shared/target-content.js';
import type { KindContext, KindOutcome, TokenKind } from '../shared/token-reconciler.js';
import { writeCredential } from '../shared/write-secret.js';
import { planDeltaShareToken, type DdsPlan, type IssueReason } from './plan.js';

const DEFAULT_OVERLAP = '1h';
// Delta Sharing tokens live 90 days (providers.md §1.4) when neither the profile nor the
// token list says otherwise.
const DEFAULT_LIFETIME_MS = 90 * 86_400_000;

interface Pending {
  profile: DeltaSharingProfile;
  reason: IssueReason;
  tokenId?: string;
  rotatedUntil?: Date;
  rotateRequest?: string;
  rotated: boolean;
}

/** The operator's floor for spec.overlap (config minOverlapSeconds); the CRD itself refuses < 2m. */
export const DEFAULT_MIN_OVERLAP_SECONDS = 120;

export function deltaShareTokenKind(deps: { dds: DdsProvider; minOverlapSeconds?: number }): TokenKind<DeltaShareToken> {
  const minOverlapMs = (deps.minOverlapSeconds ?? DEFAULT_MIN_OVERLAP_SECONDS) * 1000;

  // A profile downloaded (one-time) whose Secret write has not landed yet, by resource uid.
  // Survives failed reconciles, not a crash: a crash is recovered by rotating (SecretLost).
  const pending = new Map<string, Pending>();

  async function account(res: DeltaShareToken, ctx: KindContext): Promise<DdsAccount> {
    const dds = res.spec.dds;
    checkEndpoint(dds.apiUrl, 'spec.dds.apiUrl', dds.allowInsecureHttp, ctx.env.allowInsecureHttp);
    checkEndpoint(dds.tokenUrl, 'spec.dds.tokenUrl', dds.allowInsecureHttp, ctx.env.allowInsecureHttp);
    const secrets = new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes);
    const ref = dds.credentialsSecretRef.name;
    return {
      apiUrl: dds.apiUrl,
      ...(dds.tokenUrl ? { tokenUrl: dds.tokenUrl } : {}),
      credentials: {
        clientId: await secrets.value(ref, 'client_id', 'spec.dds.credentialsSecretRef'),
        clientSecret: await secrets.value(ref, 'client_secret', 'spec.dds.credentialsSecretRef'),
      },
      ...(insecureConsent(res, ctx) ? { allowInsecureHttp: true } : {}),
    };
  }

  /** Throws VerificationFailed (transient: retried with back-off) when the server refuses the profile. */
  async function verify(res: DeltaShareToken, ctx: KindContext, profile: Pick<DeltaSharingProfile, 'endpoint' | 'bearerToken'>): Promise<void> {
    if (res.spec.verify === false) return;
    checkEndpoint(profile.endpoint, 'profile endpoint', res.spec.dds.allowInsecureHttp, ctx.env.allowInsecureHttp);
    try {
      await deps.dds.verify(profile, insecureConsent(res, ctx));
    } catch (e) {
      const why = e instanceof Error ? e.message : 'unknown error';
      throw new ReconcileError('VerificationFailed', `the profile is in the Secret but the Delta Sharing server refused it: ${why}`, true);
    }
  }

  function readyOutcome(res: DeltaShareToken, ctx: KindContext, next: Date, reason = 'Issued'): KindOutcome {
    ctx.status.nextRotationTime = next.toISOString();
    const current = ctx.status.conditions?.find((c) => c.type === 'Ready');
    // A recovery explanation stays visible until the next rotation replaces it.
    const message =
      reason === 'RecoveredByRotation' && current?.reason === reason
        ? current.message
        : `credential valid until ${ctx.status.expirationTime}; next rotation ${next.toISOString()}`;
    return {
      ready: { status: 'True', reason, message },
      conditions: [{ type: 'Rotating', status: 'False', reason: 'Idle', message: '' }],
      requeueAfterMs: Math.max(1000, next.getTime() - ctx.now.getTime()),
    };
  }

  /** Finds a usable activation link: an ACTIVE token whose link nobody downloaded yet. */
  function unconsumed(tokens: DdsToken[]): DdsToken | undefined {
    return tokens.find((t) => t.status === 'ACTIVE' && t.activationLink);
  }

  async function issue(res: DeltaShareToken, ctx: KindContext, plan: Extract<DdsPlan, { action: 'Issue' | 'RevokeAllAndReissue' }>): Promise<KindOutcome> {
    const acct = await account(res, ctx);
    const overlapSeconds = Math.round(parseDuration(res.spec.overlap ?? DEFAULT_OVERLAP) / 1000);
    if (plan.action === 'RevokeAllAndReissue') {
      await deps.dds.revokeAll(acct);
      ctx.log.warn('revoked every DDS token of the account to break the two-token ceiling (onTokenCeiling: RevokeAllAndReissue)');
    }
    // Always look first: a link left unconsumed by an interrupted rotation is used, not wasted.
    let tokens = await deps.dds.listTokens(acct);
    let chosen = unconsumed(tokens);
    let rotated = false;
    let revokedAll = plan.action === 'RevokeAllAndReissue';
    if (!chosen) {
      // A dead credential: the list, not status, says whether the two-token ceiling holds (PATCH 0
      // ended every token; a restarted server knows none). A live previous token still blocks.
      const blockedUntil = plan.reason === 'CredentialRevoked' ? maxRotatedExpiry(tokens, ctx.now) : undefined;
      if (blockedUntil && res.spec.onTokenCeiling !== 'RevokeAllAndReissue') return revokedButCeiling(ctx, blockedUntil);
      if (blockedUntil) {
        await deps.dds.revokeAll(acct);
        revokedAll = true;
        ctx.log.warn('revoked every DDS token of the account to replace a dead credential (onTokenCeiling: RevokeAllAndReissue)');
      }
      tokens = await deps.dds.rotate(acct, overlapSeconds);
      crashPoint('dds:after-rotate');
      chosen = unconsumed(tokens);
      rotated = true;
      if (!chosen) throw new Error('DDS rotation returned no activation link');
    }
    // When the previous token stops working: what DDS reports for it, else (a rotation whose answer
    // omits it) now + overlap. After PATCH 0 nothing survives: every old token died at once.
    const fallback = rotated && !revokedAll ? new Date(ctx.now.getTime() + overlapSeconds * 1000) : undefined;
    const rotatedUntil = maxRotatedExpiry(tokens, ctx.now, fallback);
    const profile = await deps.dds.activate(chosen.activationLink!, insecureConsent(res, ctx));
    crashPoint('dds:after-activate');
    const p: Pending = {
      profile,
      reason: plan.reason,
      ...(chosen.id ? { tokenId: chosen.id } : {}),
      ...(rotatedUntil ? { rotatedUntil } : {}),
      ...(plan.rotateRequest ? { rotateRequest: plan.rotateRequest } : {}),
      rotated: rotated || plan.reason !== 'FirstIssue',
    };
    pending.set(res.metadata.uid, p);
    return persist(res, ctx, p, chosen);
  }

  /** A dead credential whose replacement must wait for the previous token to expire (two-token ceiling). */
  function revokedButCeiling(ctx: KindContext, until: Date): KindOutcome {
    (ctx.status as DeltaShareTokenStatus).rotatedTokenExpirationTime = until.toISOString();
    const message =
      `the provider no longer accepts the credential in the Secret, and a new token waits until the previous one expires at ${until.toISOString()}: ` +
      'DDS allows two live tokens (set onTokenCeiling: RevokeAllAndReissue to issue at once)';
    return {
      ready: { status: 'False', reason: CREDENTIAL_REVOKED, message },
      conditions: [{ type: 'Rotating', status: 'True', reason: 'WaitingForTokenCeiling', message }],
      requeueAfterMs: Math.max(1000, until.getTime() - ctx.now.getTime() + 1000),
    };
  }

  async function persist(res: DeltaShareToken, ctx: KindContext, p: Pending, token?: DdsToken): Promise<KindOutcome> {
    const status = ctx.status as DeltaShareTokenStatus;
    const expiresAt = p.profile.expirationTime
      ? new Date(p.profile.expirationTime)
      : (token?.expirationTime ?? new Date(ctx.now.getTime() + DEFAULT_LIFETIME_MS));
    const revision = (status.revision ?? 0) + 1;
    const profileJson = JSON.stringify({
      shareCredentialsVersion: p.profile.shareCredentialsVersion,
      endpoint: p.profile.endpoint,
      bearerToken: p.profile.bearerToken,
      expirationTime: expiresAt.toISOString(),
    });
    const hmac = await writeCredential(
      ctx,
      res,
      {
        data: { 'config.share': profileJson, endpoint: p.profile.endpoint, bearerToken: p.profile.bearerToken, expirationTime: expiresAt.toISOString() },
        revision,
        rotatedAt: ctx.now,
        expiresAt,
        ...(p.tokenId ? { tokenId: p.tokenId } : {}),
      },
      );
    pending.delete(res.metadata.uid);
    crashPoint('dds:after-secret-write');
    status.revision = revision;
    status.secretHMAC = hmac;
    status.expirationTime = expiresAt.toISOString();
    status.lastRotationTime = ctx.now.toISOString();
    if (p.tokenId) status.tokenId = p.tokenId;
    else status.tokenId = `revision-${revision}`;
    if (p.rotatedUntil) status.rotatedTokenExpirationTime = p.rotatedUntil.toISOString();
    else delete status.rotatedTokenExpirationTime;
    if (p.rotateRequest) status.lastHandledRotateRequest = p.rotateRequest;
    const next = nextRotationTime(res.spec.rotation, ctx.now, expiresAt, `${res.metadata.uid}/${revision}`);
    const event = { type: 'Normal' as const, reason: p.rotated ? 'Rotated' : 'Issued', message: `Secret ${res.spec.target.secretName} revision ${revision}; expires ${expiresAt.toISOString()}` };
    ctx.emit(event.type, event.reason, event.message);
    ctx.status.nextRotationTime = next.toISOString();
    await verify(res, ctx, p.profile);
    if (p.reason === 'SecretLost') {
      // The one-time profile behind the old link cannot be downloaded again: say why we rotated.
      const message = `the target Secret was missing and the activation link can be used only once, so a new token was issued (revision ${revision})`;
      return {
        ...readyOutcome(res, ctx, next, 'RecoveredByRotation'),
        events: [{ type: 'Warning', reason: 'RecoveredByRotation', message }],
        ready: { status: 'True', reason: 'RecoveredByRotation', message },
      };
    }
    return readyOutcome(res, ctx, next, p.rotated ? 'Rotated' : 'Issued');
  }

  return {
    kind: 'DeltaShareToken',
    plural: 'deltasharetokens',

    async reconcile(res, ctx) {
      if (adoptFromSecret(ctx.status, ctx.secret)) ctx.status.secretHMAC = dataHmac(ctx.env.hmacKey, ctx.secret.data);
      const waiting = pending.get(res.metadata.uid);
      if (waiting) return persist(res, ctx, waiting);
      // An edited or deleted Secret is written back from the state Secret: no new token.
      // Only when that copy is gone too does the plan see SecretLost (RecoveredByRotation).
      const held = await repairDrift(res, ctx);
      if (held) return held;

      // Refused before any provider call: too short an overlap kills the previous token before
      // consumers can have the new one (the CRD refuses < 2m; the operator's floor may be higher).
      const overlap = res.spec.overlap ?? DEFAULT_OVERLAP;
      if (!res.spec.suspend && parseDuration(overlap) < minOverlapMs) {
        throw new ReconcileError(
          'OverlapTooShort',
          `spec.overlap ${overlap}${res.spec.overlap ? '' : ' (the default)'} is shorter than the minimum of ${minOverlapMs / 1000}s this operator accepts: ` +
            'pods see a new Secret only after the kubelet syncs it (about a minute plus its cache TTL), and restarted workloads need time to roll; raise spec.overlap',
          false,
        );
      }

      const plan = planDeltaShareToken({ ...res, status: ctx.status as DeltaShareTokenStatus }, ctx.secret, ctx.now);
      ctx.log.debug({ action: plan.action }, 'planned');
      switch (plan.action) {
        case 'Suspended': {
          const valid = ctx.status.expirationTime !== undefined && Date.parse(ctx.status.expirationTime) > ctx.now.getTime();
          return { ready: { status: valid ? 'True' : 'False', reason: 'Suspended', message: 'spec.suspend is true: no provider calls; the Secret is left as it is' } };
        }
        case 'Wait':
          return readyOutcome(res, ctx, plan.nextRotation, readyReasonOf(ctx));
        case 'Verify': {
          const fields = (await credentialFields(ctx.env.client, res.metadata.namespace, res.metadata.uid, ctx.secret)) ?? {};
          await verify(res, ctx, { endpoint: fields.endpoint ?? '', bearerToken: fields.bearerToken ?? '' });
          return readyOutcome(res, ctx, plan.nextRotation, 'Issued');
        }
        case 'WaitForCeiling': {
          const valid = ctx.status.expirationTime !== undefined && Date.parse(ctx.status.expirationTime) > ctx.now.getTime();
          const message = `rotation (${plan.reason}) waits until the previous token expires at ${plan.until.toISOString()}: DDS allows two live tokens (set onTokenCeiling: RevokeAllAndReissue to force it, with downtime)`;
          return {
            ready: { status: valid && ctx.secret.exists ? 'True' : 'False', reason: 'WaitingForTokenCeiling', message },
            conditions: [{ type: 'Rotating', status: 'True', reason: 'WaitingForTokenCeiling', message }],
            requeueAfterMs: Math.max(1000, plan.until.getTime() - ctx.now.getTime() + 1000),
          };
        }
        case 'Issue':
        case 'RevokeAllAndReissue':
          return issue(res, ctx, plan);
      }
    },

    async revoke(res, ctx) {
      // PATCH 0 revokes EVERY token of the account; deletionPolicy Revoke is the user's opt-in.
      await deps.dds.revokeAll(await account(res, ctx));
    },

    forget(res) {
      pending.delete(res.metadata.uid);
    },

    async verify(res, ctx, data) {
      // Where the operator may not call the sharing server (verify: false), the token list says it.
      if (res.spec.verify === false) {
        const id = (ctx.status as DeltaShareTokenStatus).tokenId;
        return deps.dds.listedLiveness(await account(res, ctx), id && !id.startsWith('revision-') ? id : undefined);
      }
      const { endpoint, bearerToken } = data;
      if (!endpoint || !bearerToken) return unknown('no Delta Sharing profile known for this revision');
      checkEndpoint(endpoint, 'profile endpoint', res.spec.dds.allowInsecureHttp, ctx.env.allowInsecureHttp);
      return deps.dds.shareLiveness({ endpoint, bearerToken }, insecureConsent(res, ctx));
    },

    stillValid(res) {
      const until = res.status?.expirationTime ? ` (the newest until ${res.status.expirationTime})` : '';
      return (
        `The DDS tokens of the zDirect app in Secret "${res.spec.dds.credentialsSecretRef.name}" may still be valid${until}: ` +
        'revoke them with PATCH /dds-tokens (token_expiry_time_in_seconds 0) or in the Zalando partner portal'
      );
    },
  };
}

/** Plain http for this resource's URLs and the ones DDS hands back: only when both the resource and the operator allow it. */
function insecureConsent(res: DeltaShareToken, ctx: KindContext): boolean {
  return res.spec.dds.allowInsecureHttp === true && ctx.env.allowInsecureHttp;
}

function maxRotatedExpiry(tokens: DdsToken[], now: Date, fallback?: Date): Date | undefined {
  const live = tokens
    .filter((t) => t.status === 'ROTATED' && t.expirationTime && t.expirationTime > now)
    .map((t) => t.expirationTime!.getTime());
  if (live.length) return new Date(Math.max(...live));
  return fallback;
}

function readyReasonOf(ctx: KindContext): string {
  const r = ctx.status.conditions?.find((c) => c.type === 'Ready');
  return r?.status === 'True' && r.reason !== 'Suspended' && r.reason !== 'WaitingForTokenCeiling' ? r.reason : 'Issued';
}
