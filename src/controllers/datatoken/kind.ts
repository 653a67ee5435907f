import { FLOORS, DATA_TOKEN, REASON, type DataToken, type DataTokenStatus } from '../../api/index.js';
import type { DataTokenIssue, DataTokenRevoke } from '../../providers/contracts.js';
import type { InputRef } from '../../providers/credential-provider.js';
import { atLeast } from '../../schedule/duration.js';
import type { Plan, TokenKind } from '../shared/kind.js';
import { KEYS, nextRefreshTime, planDataToken } from './plan.js';

export const DEFAULT_CHECK_INTERVAL_MS = 60_000;
const MAX_PENDING_REMOVALS = 64;
/** after a rotation that left replaced tokens to delete (Revoke): look again soon, not at the next check */
const CLEANUP_SOON_MS = 1_000;

/**
 * DataToken: data exchanged for a data token (source mode), or the data behind an existing one
 * (tokenRef mode), at a data-token provider (Privicore). Data tokens are references, not
 * credentials: they never expire, and a lost Secret is written back from status. Its plan
 * (plan.ts) decides; this says what the decisions mean to the skeleton and what status it keeps.
 */
export function dataTokenKind(): TokenKind<DataToken, DataTokenIssue, DataTokenRevoke> {
  return {
    kind: DATA_TOKEN.kind,
    plural: DATA_TOKEN.plural,

    // What the resource references is read fresh on every reconcile (GETs: the Secret is not
    // ours to cache), so a change is seen within checkInterval. The context and endpoint are part
    // of the input: changing either exchanges again.
    planInputs: {
      refs(res): Record<string, InputRef> {
        const { source, tokenRef } = res.spec;
        if (source) return { data: { field: 'spec.source.secretKeyRef', ...source.secretKeyRef, binary: true } };
        return tokenRef ? { token: { field: 'spec.tokenRef.secretKeyRef', ...tokenRef.secretKeyRef } } : {};
      },
      hmac(res, values, hmac) {
        const apiUrl = res.spec.privicore.apiUrl;
        if (res.spec.source) return hmac({ apiUrl, context: res.spec.source.context, data: (values.data as Buffer).toString('base64') });
        return hmac({ apiUrl, token: String(values.token) });
      },
    },

    plan(res, view, now): Plan<DataTokenIssue, DataTokenRevoke> {
      const { source, tokenRef } = res.spec;
      if (!source && !tokenRef) return { action: 'Refuse', reason: REASON.InvalidSpec, message: 'spec: set exactly one of source and tokenRef', transient: false };
      if (source && (view.inputs?.data as Buffer | undefined)?.length === 0) {
        const ref = source.secretKeyRef;
        return { action: 'Refuse', reason: REASON.InvalidSecretValue, message: `spec.source.secretKeyRef: key "${ref.key}" of Secret "${ref.name}" is empty`, transient: false };
      }
      const status = res.status ?? {};
      const p = planDataToken(res, view.secret, view.inputHmac, now);
      switch (p.action) {
        case 'Wait':
          return { action: 'Wait' };
        case 'RestoreSecret':
          return {
            action: 'Restore',
            reason: p.reason,
            issued: { data: { [KEYS.dataToken]: status.tokenId!, [KEYS.context]: source?.context ?? '' }, tokenId: status.tokenId! },
            message: `Secret ${res.spec.target.secretName} was missing or edited; the known data token was written back`,
          };
        case 'RemoveReplaced':
          return { action: 'RevokeReplaced', params: { tokens: p.tokens }, message: `deleted ${p.tokens.length} replaced data token(s) at the provider`, done: { pendingRemovals: undefined } };
        case 'Tokenize':
        case 'Resolve': {
          const params: DataTokenIssue =
            p.action === 'Tokenize'
              ? { mode: 'tokenize', data: view.inputs!.data as Buffer, context: source!.context, tag: tagOf(res) }
              : { mode: 'resolve', token: String(view.inputs!.token) };
          return { action: 'Issue', reason: p.reason, params, facts: { sourceHMAC: view.inputHmac! }, ...(p.rotateRequest !== undefined ? { rotateRequest: p.rotateRequest } : {}) };
        }
      }
    },

    record(res, status, issued, plan) {
      const replaced = status.tokenOrigin === 'Tokenized' && status.tokenId !== issued.tokenId ? status.tokenId : undefined;
      status.tokenOrigin = plan.params.mode === 'tokenize' ? 'Tokenized' : 'Referenced';
      const auth = issued.facts?.authorizationExpiresAt;
      if (auth) status.authorizationExpirationTime = auth;
      // The new token is in the Secret before the one it replaces is deleted (rotation overlap).
      if (replaced) queueRemoval(res, status, replaced);
    },

    mirror: { sourceHMAC: 'token-operator.io/source-hmac' },

    adopted(res, status, before) {
      status.tokenOrigin = res.spec.source ? 'Tokenized' : 'Referenced';
      if (before.tokenOrigin === 'Tokenized' && typeof before.tokenId === 'string' && before.tokenId !== status.tokenId) queueRemoval(res, status, before.tokenId);
    },

    schedule(res, status, now) {
      const check = checkIntervalMs(res);
      const cleanup = res.spec.deletionPolicy === 'Revoke' && status.pendingRemovals?.length ? CLEANUP_SOON_MS : check;
      if (res.spec.source) {
        const ref = res.spec.source.secretKeyRef;
        return {
          message: `data token issued for key "${ref.key}" of Secret "${ref.name}"; it does not expire and is exchanged again when that data changes`,
          requeueAfterMs: Math.min(check, cleanup),
        };
      }
      const ref = res.spec.tokenRef!.secretKeyRef;
      const next = nextRefreshTime(res, new Date(status.lastRotationTime ?? now), status.revision ?? 0);
      return {
        next,
        message: `data resolved from the token in key "${ref.key}" of Secret "${ref.name}"; next refresh ${next.toISOString()}`,
        requeueAfterMs: Math.min(check, cleanup, Math.max(1000, next.getTime() - now.getTime())),
      };
    },

    // Only what this resource created: the referenced token of tokenRef mode is someone else's data.
    revokeParams(res, status) {
      const ours = status.tokenOrigin === 'Tokenized' && status.tokenId ? [status.tokenId] : [];
      const keep = status.tokenOrigin === 'Referenced' && status.tokenId ? [status.tokenId] : [];
      return { tokens: [...(status.pendingRemovals ?? []), ...ours], sweep: { tag: tagOf(res), keep } };
    },

    stillValidFacts: (res) => (res.spec.source ? { createdTag: tagOf(res) } : {}),
  };
}

/** The tag (file name) every token this resource creates carries at the provider: crash orphans are found by it. */
function tagOf(res: DataToken): string {
  return `token-operator-${res.metadata.uid}.bin`;
}

function checkIntervalMs(res: DataToken): number {
  const text = res.spec.source?.checkInterval ?? res.spec.tokenRef?.checkInterval;
  return text ? atLeast(text, FLOORS.checkInterval) : DEFAULT_CHECK_INTERVAL_MS;
}

/** Only tokens this resource created, and only under deletionPolicy Revoke (Retain leaves them alone). */
function queueRemoval(res: DataToken, status: DataTokenStatus, token: string): void {
  if (res.spec.deletionPolicy !== 'Revoke') return;
  const list = [...(status.pendingRemovals ?? []).filter((t) => t !== token), token];
  status.pendingRemovals = list.slice(-MAX_PENDING_REMOVALS);
}
