/**
 * Liveness checks (spec.liveness, docs/liveness.md) on the real API server, against the DDS,
 * GNAP and Privicore simulators, in real time with the shortest interval admission allows (1m):
 *
 * - steady state: each credential is checked once per interval with one cheap provider read,
 *   and a check that finds it alive writes nothing; a no-op resync between checks calls no one;
 * - revoked out of band (every DDS token PATCHed to 0 by another tool, a Privicore data token
 *   deleted, a GNAP grant's token revoked) → within one interval the resource reports
 *   CredentialRevoked (Warning event, condition, metric), then a working credential is back: at
 *   once where the operator can issue one (DDS, Privicore), after a person gave a new grant
 *   where only a person can (GNAP: Stalled=True says so). The consumer-side failure window, from
 *   the revocation to a Secret whose credential the provider accepts again, is measured and
 *   bounded. (OIDC against the real Keycloak: liveness-oidc.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from '../../src/runtime/informer.js';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { createLogger } from '../../src/runtime/logger.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import { ddsFixture, gnapFixture, shareStatus, type GnapFixture } from '../support/fixtures.js';
import {
  RequestCounter,
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  crPath,
  getResource,
  getSecretData,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';

const INTERVAL_MS = 60_000;
/** the re-issue after detection, on a loaded 2-core machine (provider calls, state and target Secret writes) */
const REISSUE_MARGIN_MS = 30_000;

let client: KubeClient;
let dds: DdsSimulator;
let gnap: GnapSimulator;
let privicore: PrivicoreSimulator;
let op: TestOperator;
let ns: string;
let gnapFx: GnapFixture;
const requests = new RequestCounter();
/** every Ready status/reason each resource went through, in order, as watched */
const readySeen = new Map<string, string[]>();
const informers: Array<Informer<KubeObject>> = [];

const liveness = { liveness: { interval: '1m' } };
type Status = { revision?: number; tokenId?: string; credentialRevokedTime?: string };
const statusOf = (r: KubeObject | undefined): Status => (r?.status ?? {}) as Status;

function dataToken(name: string): KubeObject {
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DataToken',
    metadata: { name, namespace: ns },
    spec: {
      privicore: { apiUrl: privicore.url, profileSecretRef: { name: 'profile' }, allowInsecureHttp: true },
      source: { secretKeyRef: { name: 'report-key', key: 'key.pem' }, context: 'analytics.reports' },
      target: { secretName: `${name}-out` },
      ...liveness,
    },
  };
}

/** what a consumer of each Secret sees at its provider: true = the credential works */
const works = {
  dds: async () => (await shareStatus(client, ns, 'share-share')) === 200,
  gnap: async () => {
    const value = (await getSecretData(client, ns, 'grant-token'))?.access_token;
    return (await fetch(`${gnap.url}/resource`, { headers: { authorization: `GNAP ${value ?? ''}` } })).status === 200;
  },
  privicore: async () => {
    const token = (await getSecretData(client, ns, 'data-out'))?.data_token;
    return token !== undefined && privicore.state.dataTokens.has(token);
  },
};

async function checks(kind: string, result: 'alive' | 'revoked' | 'unknown'): Promise<number> {
  return (await op.metrics.livenessChecks.get()).values.find((v) => v.labels.kind === kind && v.labels.result === result)?.value ?? 0;
}
async function livenessCalls(): Promise<number> {
  return (await op.metrics.livenessProviderCalls.get()).values.reduce((sum, v) => sum + v.value, 0);
}
async function revokedTotal(kind: string): Promise<number> {
  return (await op.metrics.credentialRevoked.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;
}

async function events(name: string, reason: string): Promise<Array<{ type: string; message: string }>> {
  const list = await client.get<KubeObject & { items: Array<{ type: string; reason: string; message: string; involvedObject: { name: string } }> }>(`/api/v1/namespaces/${ns}/events`);
  return list.items.filter((e) => e.involvedObject.name === name && e.reason === reason);
}

const ready = (plural: string, name: string, minRevision = 1, timeoutMs = 60_000) =>
  waitFor(`${name} Ready rev >= ${minRevision}`, async () => {
    const r = await getResource(client, plural, ns, name);
    return condition(r, 'Ready')?.status === 'True' && (statusOf(r).revision ?? 0) >= minRevision ? r : undefined;
  }, timeoutMs);

/** polls until `ok` (a consumer's view) holds; the time from `since`, in ms */
async function windowUntil(what: string, since: number, ok: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  await waitFor(what, async () => (await ok()) || undefined, timeoutMs, 250);
  return Date.now() - since;
}

beforeAll(async () => {
  client = adminClient();
  [dds, gnap, privicore] = await Promise.all([
    startDdsSimulator(),
    // GNAP tokens live an hour here, so no rotation comes before the one-minute check
    startGnapSimulator({ accessTokenExpirySeconds: 3600 }),
    startPrivicoreSimulator({ commandDelayMs: 10 }),
  ]);
  privicore.addProfile('ops', 'ops-password');
  ns = await createNamespace(client, 'live');
  for (const plural of ['deltasharetokens', 'accesstokens', 'datatokens']) {
    const inf = new Informer<KubeObject>(client, { path: crPath(plural, ns), logger: createLogger({ level: 'silent' }) });
    inf.on((_e, obj) => {
      const c = condition(obj, 'Ready');
      if (!c) return;
      const seen = readySeen.get(obj.metadata!.name!) ?? [];
      const s = `${c.status}/${c.reason}`;
      if (seen.at(-1) !== s) seen.push(s);
      readySeen.set(obj.metadata!.name!, seen);
    });
    inf.start();
    informers.push(inf);
  }
  op = await startTestOperator({ watchNamespaces: [ns] }, { onKubeRequest: requests.on });

  await createSecret(client, ns, 'profile', { username: 'ops', password: 'ops-password' });
  await createSecret(client, ns, 'report-key', { 'key.pem': 'signing key' });
  gnapFx = await gnapFixture(client, gnap, 'grant', { namespace: ns, spec: liveness });
  await Promise.all([
    createResource(client, 'deltasharetokens', await ddsFixture(client, dds, 'share', { namespace: ns, spec: liveness })),
    createResource(client, 'accesstokens', gnapFx.obj),
    createResource(client, 'datatokens', dataToken('data')),
  ]);
  await Promise.all([ready('deltasharetokens', 'share'), ready('accesstokens', 'grant'), ready('datatokens', 'data')]);
}, 120_000);

afterAll(async () => {
  if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
  for (const inf of informers) inf.stop();
  await op?.stop();
  await Promise.all([dds?.close(), gnap?.close(), privicore?.close()]);
});

describe('liveness checks', () => {
  it('steady state: one cheap read per credential per interval, nothing written while alive, no provider call on a no-op resync', async () => {
    // An authorization revoked out of band is the operator's own (in no Secret): the check logs in again, nothing is reported.
    const logins = privicore.state.calls['POST /profile/authenticate'] ?? 0;
    privicore.revokeAuthorizations('ops');
    const before = { dds: dds.state.log.length, gnap: gnap.state.requests.length, privicore: privicore.log.length };
    const counted = await livenessCalls();
    requests.reset();
    await waitFor(
      'one alive check of each kind',
      async () => (await checks('DeltaShareToken', 'alive')) >= 1 && (await checks('AccessToken', 'alive')) >= 1 && (await checks('DataToken', 'alive')) >= 1,
      INTERVAL_MS + REISSUE_MARGIN_MS,
      250,
    );
    expect(requests.writes()).toBe(0);
    expect(dds.state.log.slice(before.dds).map((e) => `${e.method} ${e.route} ${e.status}`)).toEqual(['GET shares 200']);
    expect(gnap.state.requests.slice(before.gnap).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(['GET /grant 200', 'GET /outgoing-payments 403']);
    const pc = privicore.log.slice(before.privicore).map((c) => c.name);
    expect(pc.filter((n) => n !== 'POST /profile/authenticate')).toEqual([
      'POST /profile/authorization-token/expiry', // refused: revoked out of band
      'GET /data-token/list-data-tokens',
    ]);
    expect(privicore.state.calls['POST /profile/authenticate']).toBe(logins + 1);
    // every one of those calls is counted as a liveness call (token_operator_liveness_provider_calls_total)
    const made = dds.state.log.length - before.dds + gnap.state.requests.length - before.gnap + privicore.log.length - before.privicore;
    expect((await livenessCalls()) - counted).toBe(made);
    for (const name of ['share', 'grant', 'data']) expect(readySeen.get(name)?.at(-1)).toBe('True/Issued');

    // a resync between two checks: reconciles, but no provider call and no write
    const quiet = { dds: dds.state.log.length, gnap: gnap.state.requests.length, privicore: privicore.log.length };
    requests.reset();
    op.enqueueAll();
    op.enqueueAll();
    await new Promise((r) => setTimeout(r, 2000));
    expect(requests.writes()).toBe(0);
    expect({ dds: dds.state.log.length, gnap: gnap.state.requests.length }).toEqual({ dds: quiet.dds, gnap: quiet.gnap });
    // (DataToken source mode re-reads its input Secret on a resync: an API read, no Privicore call)
    expect(privicore.log.length).toBe(quiet.privicore);
  }, 150_000);

  describe('a credential revoked out of band', () => {
    it.concurrent('DeltaShareToken: every token PATCHed to 0 by another tool → CredentialRevoked within one interval, then a new working profile', async () => {
      const rev = statusOf(await getResource(client, 'deltasharetokens', ns, 'share')).revision!;
      const bearer = (await getSecretData(client, ns, 'share-share'))!.bearerToken!;
      const t0 = Date.now();
      await fetch(`${dds.url}/_sim/revoke-all`, { method: 'POST', body: JSON.stringify({ clientId: 'client-share' }) });
      expect(await works.dds()).toBe(false);

      const window = await windowUntil('a working DDS profile again', t0, works.dds, INTERVAL_MS + REISSUE_MARGIN_MS);
      console.log(`DeltaShareToken: consumer-side failure window ${(window / 1000).toFixed(1)}s (interval ${INTERVAL_MS / 1000}s)`);
      expect(window).toBeLessThanOrEqual(INTERVAL_MS + REISSUE_MARGIN_MS);

      const r = await ready('deltasharetokens', 'share', rev + 1);
      expect(condition(r, 'Ready')?.reason).toBe('Rotated');
      expect(statusOf(r).credentialRevokedTime).toBeUndefined();
      expect(readySeen.get('share')).toEqual(expect.arrayContaining(['False/CredentialRevoked', 'True/Rotated']));
      const [ev] = await events('share', 'CredentialRevoked');
      expect(ev?.type).toBe('Warning');
      expect(ev?.message).toContain('the Delta Sharing server refused the bearer token');
      expect(ev?.message).toContain('(verify-shares: HTTP 4xx)');
      expect(ev?.message).not.toContain(bearer);
      // (the two-token ceiling test, running beside this one, counts its DeltaShareTokens here too)
      expect(await revokedTotal('DeltaShareToken')).toBeGreaterThanOrEqual(1);
      // the re-issue went the normal way: look at the list, rotate, download once (no PATCH 0 of its own)
      expect(dds.state.log.filter((e) => e.route === 'dds-tokens.patch' && e.clientId === 'client-share')).toEqual([]);
    }, 180_000);

    it.concurrent('DeltaShareToken: only the ACTIVE token dies while the ROTATED one lives on: the two-token ceiling holds the new one back, unless the user opted in to RevokeAllAndReissue', async () => {
      const make = async (name: string, spec: Record<string, unknown>) => {
        await createResource(client, 'deltasharetokens', await ddsFixture(client, dds, name, { namespace: ns, spec: { ...liveness, ...spec } }));
        await ready('deltasharetokens', name);
        // a rotation: the first token is ROTATED for another hour
        await client.patch(crPath('deltasharetokens', ns, name), { metadata: { annotations: { 'token-operator.io/rotate': 'r1' } } }, 'merge');
        return ready('deltasharetokens', name, 2);
      };
      const [waits, forced] = await Promise.all([make('ceiling-wait', {}), make('ceiling-force', { onTokenCeiling: 'RevokeAllAndReissue' })]);
      for (const name of ['ceiling-wait', 'ceiling-force']) {
        await fetch(`${dds.url}/_sim/revoke-all`, { method: 'POST', body: JSON.stringify({ clientId: `client-${name}`, status: 'ACTIVE' }) });
      }
      const stuck = await waitFor(
        'ceiling-wait: CredentialRevoked, waiting for the previous token',
        async () => {
          const r = await getResource(client, 'deltasharetokens', ns, 'ceiling-wait');
          return condition(r, 'Rotating')?.reason === 'WaitingForTokenCeiling' ? r : undefined;
        },
        INTERVAL_MS + REISSUE_MARGIN_MS,
        250,
      );
      expect(condition(stuck, 'Ready')).toMatchObject({ status: 'False', reason: 'CredentialRevoked' });
      expect(condition(stuck, 'Ready')?.message).toContain('waits until the previous one expires at');
      expect(statusOf(stuck).revision).toBe(statusOf(waits).revision);
      const r = await ready('deltasharetokens', 'ceiling-force', statusOf(forced).revision! + 1, INTERVAL_MS + REISSUE_MARGIN_MS);
      expect(statusOf(r).credentialRevokedTime).toBeUndefined();
      expect(await shareStatus(client, ns, 'ceiling-force-share')).toBe(200);
      expect(dds.state.patchZeroCalls).toBe(1); // the opted-in RevokeAllAndReissue, nothing else
    }, 180_000);

    it.concurrent('DeltaShareToken with spec.target.template (the target holds other keys): checked all the same, and replaced', async () => {
      const spec = { ...liveness, target: { secretName: 'shaped-share', template: { data: { 'sharing.token': '{{bearerToken}}' } } } };
      await createResource(client, 'deltasharetokens', await ddsFixture(client, dds, 'shaped', { namespace: ns, spec }));
      const r1 = await ready('deltasharetokens', 'shaped');
      const shaped = async () => {
        const token = (await getSecretData(client, ns, 'shaped-share'))?.['sharing.token'];
        return (await fetch(`${dds.url}/delta-sharing/shares?maxResults=1`, { headers: { authorization: `Bearer ${token ?? ''}` } })).status === 200;
      };
      expect(await shaped()).toBe(true);
      const t0 = Date.now();
      await fetch(`${dds.url}/_sim/revoke-all`, { method: 'POST', body: JSON.stringify({ clientId: 'client-shaped' }) });
      const window = await windowUntil('a working templated token again', t0, shaped, INTERVAL_MS + REISSUE_MARGIN_MS);
      expect(window).toBeLessThanOrEqual(INTERVAL_MS + REISSUE_MARGIN_MS);
      const r2 = await ready('deltasharetokens', 'shaped', statusOf(r1).revision! + 1);
      expect(readySeen.get('shaped')).toContain('False/CredentialRevoked');
      expect(Object.keys((await getSecretData(client, ns, 'shaped-share'))!)).toEqual(['sharing.token']);
      expect(statusOf(r2).credentialRevokedTime).toBeUndefined();
    }, 180_000);

    it.concurrent('DataToken: its data token deleted at Privicore → CredentialRevoked within one interval, then the source exchanged anew', async () => {
      const before = statusOf(await getResource(client, 'datatokens', ns, 'data'));
      const t0 = Date.now();
      expect(privicore.deleteDataToken(before.tokenId!)).toBe(true);
      expect(await works.privicore()).toBe(false);

      const window = await windowUntil('a listed data token again', t0, works.privicore, INTERVAL_MS + REISSUE_MARGIN_MS);
      console.log(`DataToken: consumer-side failure window ${(window / 1000).toFixed(1)}s (interval ${INTERVAL_MS / 1000}s)`);
      expect(window).toBeLessThanOrEqual(INTERVAL_MS + REISSUE_MARGIN_MS);

      const r = await ready('datatokens', 'data', before.revision! + 1);
      expect(statusOf(r).tokenId).not.toBe(before.tokenId);
      expect(readySeen.get('data')).toEqual(expect.arrayContaining(['False/CredentialRevoked', 'True/Rotated']));
      const [ev] = await events('data', 'CredentialRevoked');
      expect(ev?.message).toContain('no longer listed for the profile (deleted at Privicore)');
      expect(ev?.message).not.toContain(before.tokenId!);
      expect(await revokedTotal('DataToken')).toBe(1);
    }, 180_000);

    it.concurrent('AccessToken (gnap): the grant revoked → CredentialRevoked within one interval, Stalled until a person gives a new grant, then Ready with it', async () => {
      const rev = statusOf(await getResource(client, 'accesstokens', ns, 'grant')).revision!;
      const t0 = Date.now();
      expect(gnap.revokeTokens({ walletAddressUrl: gnapFx.wallet })).toBeGreaterThanOrEqual(1);
      expect(await works.gnap()).toBe(false);

      // the rotation the re-issue tries is refused: only a new grant helps, and Stalled says how
      const stalled = await waitFor(
        'Stalled after the failed re-issue',
        async () => {
          const r = await getResource(client, 'accesstokens', ns, 'grant');
          return condition(r, 'Stalled')?.status === 'True' ? r : undefined;
        },
        INTERVAL_MS + REISSUE_MARGIN_MS,
        250,
      );
      const detected = Date.now() - t0;
      console.log(`AccessToken (gnap): dead credential reported after ${(detected / 1000).toFixed(1)}s (interval ${INTERVAL_MS / 1000}s)`);
      expect(detected).toBeLessThanOrEqual(INTERVAL_MS + REISSUE_MARGIN_MS);
      expect(readySeen.get('grant')).toEqual(expect.arrayContaining(['False/CredentialRevoked', 'False/TokenRefused']));
      expect(condition(stalled, 'Stalled')).toMatchObject({ reason: 'TokenRefused' });
      expect(condition(stalled, 'Stalled')?.message).toContain('Request a new grant and put its access token and manage URL into Secret "grant-grant"');
      const [ev] = await events('grant', 'CredentialRevoked');
      expect(ev?.message).toContain('HTTP 4xx: the resource server reports the access token as inactive');
      expect(await revokedTotal('AccessToken')).toBe(1);

      // the person: a new grant into the seed Secret (the operator reads it within a minute)
      const fresh = gnap.issueToken(undefined, { walletAddressUrl: gnapFx.wallet });
      const human = Date.now();
      await client.patch(
        `/api/v1/namespaces/${ns}/secrets/grant-grant`,
        { stringData: { access_token: fresh.value, manage_url: fresh.manageUrl } },
        'merge',
      );
      const recovery = await windowUntil('a working GNAP token again', human, works.gnap, 60_000 + REISSUE_MARGIN_MS);
      console.log(`AccessToken (gnap): working again ${(recovery / 1000).toFixed(1)}s after the new grant; failure window ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      const r = await ready('accesstokens', 'grant', rev + 1);
      expect(condition(r, 'Stalled')?.status).toBe('False');
      expect(statusOf(r).credentialRevokedTime).toBeUndefined();
    }, 240_000);
  });
});
