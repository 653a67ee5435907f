/**
 * Two tenants on one operator, one of them hostile (README "Running it in a shared cluster"):
 * namespace `hostile` holds DeltaShareTokens and OIDC AccessTokens pointed at endpoints of its own
 * that answer slowly (1.5 s), with bodies padded to 256 KiB (discovery documents, token answers,
 * token lists, profiles) and credentials that expire within minutes, so they rotate all the
 * time and keep every reconcile slot they can get busy. Namespace `tenant` holds GNAP
 * AccessTokens that live 30 s. The honest tenant's rotations must stay on time: none of its
 * Secrets ever holds an expired token, and each rotation begins within a few seconds of its
 * planned time. The operator's memory under the same kind of load, at the chart's limit, is
 * measured by `npm run bench:hostile` (bench/README.md), not here: this process is shared.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { gnapFixture } from '../support/fixtures.js';
import { adminClient, createNamespace, createResource, createSecret, crPath, startTestOperator, waitForReady, type TestOperator } from '../support/harness.js';

const HOSTILE = 40;
const VICTIMS = 3;
const BODY = 256 * 1024;
const HOSTILE_LATENCY_MS = 1500;
const WORKERS = 4;
const OBSERVE_MS = 75_000;

let client: KubeClient;
let gnap: GnapSimulator;
let op: TestOperator;
let hostileServer: Server;
let origin = '';
let hostile: string;
let tenant: string;
let served = 0;

/** JSON padded with a field the operator does not use, up to BODY */
const padded = (body: Record<string, unknown>) => JSON.stringify({ ...body, padding: 'p'.repeat(Math.max(0, BODY - JSON.stringify(body).length - 16)) });

function hostileAnswer(path: string): string | undefined {
  const seq = served;
  const soon = new Date(Date.now() + 150_000).toISOString();
  if (path.endsWith('/auth/token')) return padded({ access_token: `zt${seq}`, token_type: 'bearer', expires_in: 3600 });
  if (path.endsWith('/dds-tokens')) {
    return padded({ items: [{ id: `t${seq}`, status: 'ACTIVE', activation_link: `${origin}/delta_sharing/retrieve_config.html?act${seq}`, expiration_time: soon }] });
  }
  if (path.startsWith('/api/2.1/unity-catalog/public/data_sharing_activation/')) {
    return padded({ shareCredentialsVersion: 1, endpoint: `${origin}/delta`, bearerToken: `bt${seq}`, expirationTime: soon });
  }
  if (path.endsWith('/shares')) return padded({ items: [{ name: 'share' }] });
  const realm = /^(\/realms\/[^/]+)\//.exec(path)?.[1];
  if (realm && path.endsWith('/.well-known/openid-configuration')) {
    const issuer = `${origin}${realm}`;
    return padded({ issuer, token_endpoint: `${issuer}/protocol/openid-connect/token`, jwks_uri: `${issuer}/certs`, scopes_supported: Array.from({ length: 200 }, (_, i) => `scope-${i}`) });
  }
  if (realm && path.endsWith('/protocol/openid-connect/token')) {
    return padded({ access_token: `at${seq}`, refresh_token: `rt${seq}`, token_type: 'Bearer', expires_in: 45 });
  }
  return undefined;
}

beforeAll(async () => {
  client = adminClient();
  hostileServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        const body = hostileAnswer(new URL(req.url ?? '/', origin).pathname);
        served++;
        if (body === undefined) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      }, HOSTILE_LATENCY_MS);
    });
  });
  await new Promise<void>((r) => hostileServer.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(hostileServer.address() as AddressInfo).port}`;
  gnap = await startGnapSimulator({ latencyMs: 50, accessTokenExpirySeconds: 30 });
  hostile = await createNamespace(client, 'hostile');
  tenant = await createNamespace(client, 'tenant');
  op = await startTestOperator({ watchNamespaces: [hostile, tenant], controllers: ['AccessToken', 'DeltaShareToken'], workers: WORKERS });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await gnap?.close();
  hostileServer?.closeAllConnections();
  await new Promise<void>((r) => (hostileServer ? hostileServer.close(() => r()) : r()));
});

type Status = { revision?: number; lastRotationTime?: string; nextRotationTime?: string };

describe('a hostile tenant beside an honest one', () => {
  it("the honest tenant's short-lived tokens rotate on time while the hostile one keeps every slot it can busy", async () => {
    await createSecret(client, hostile, 'creds', { client_id: 'c', client_secret: 's', refresh_token: 'seed' });
    for (let i = 0; i < HOSTILE; i++) {
      const obj: KubeObject =
        i % 2 === 0
          ? {
              apiVersion: 'token-operator.io/v1alpha1',
              kind: 'DeltaShareToken',
              metadata: { name: `h${i}`, namespace: hostile },
              spec: { dds: { apiUrl: `${origin}/tenant-${i}`, credentialsSecretRef: { name: 'creds' }, allowInsecureHttp: true }, overlap: '2m', target: { secretName: `h${i}-share` } },
            }
          : {
              apiVersion: 'token-operator.io/v1alpha1',
              kind: 'AccessToken',
              metadata: { name: `h${i}`, namespace: hostile },
              spec: {
                oidc: { issuerUrl: `${origin}/realms/hostile-${i}`, clientId: 'c', refreshTokenSecretRef: { name: 'creds', key: 'refresh_token' }, allowInsecureHttp: true },
                target: { secretName: `h${i}-token` },
              },
            };
      await createResource(client, i % 2 === 0 ? 'deltasharetokens' : 'accesstokens', obj);
    }

    const victims = Array.from({ length: VICTIMS }, (_, i) => `v${i}`);
    for (const name of victims) await createResource(client, 'accesstokens', (await gnapFixture(client, gnap, name, { namespace: tenant })).obj);
    for (const name of victims) await waitForReady(client, 'accesstokens', tenant, name, 'Issued');
    const servedAtStart = served;

    // every second: no victim Secret holds an expired token; every rotation is timed against its plan
    const planned = new Map<string, { revision: number; next: number }>();
    const lateness: number[] = [];
    const expiredSeen: string[] = [];
    const until = Date.now() + OBSERVE_MS;
    while (Date.now() < until) {
      for (const name of victims) {
        const res = await client.get(crPath('accesstokens', tenant, name));
        const st = (res?.status ?? {}) as Status;
        const before = planned.get(name);
        if (before && st.revision !== undefined && st.revision > before.revision) lateness.push((Date.parse(st.lastRotationTime!) - before.next) / 1000);
        if (st.revision !== undefined && st.nextRotationTime) planned.set(name, { revision: st.revision, next: Date.parse(st.nextRotationTime) });
        const secret = await client.get(`/api/v1/namespaces/${tenant}/secrets/${name}-token`);
        const expiresAt = Buffer.from(String((secret?.data as Record<string, string> | undefined)?.expires_at ?? ''), 'base64').toString();
        if (!expiresAt || Date.parse(expiresAt) <= Date.now()) expiredSeen.push(`${name} at ${new Date().toISOString()} (expires_at ${expiresAt || 'missing'})`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    const hostileCalls = served - servedAtStart;
    lateness.sort((a, b) => a - b);
    console.log(
      `[hostile-tenant] ${hostileCalls} hostile answers of ${BODY / 1024} KiB after ${HOSTILE_LATENCY_MS} ms each in ${OBSERVE_MS / 1000} s; ` +
        `${lateness.length} honest rotations, lateness s min ${lateness[0]} median ${lateness[Math.floor(lateness.length / 2)]} max ${lateness.at(-1)}; expired seen: ${expiredSeen.length}`,
    );

    // the hostile tenant really was loading the operator the whole time
    expect(hostileCalls).toBeGreaterThan(OBSERVE_MS / HOSTILE_LATENCY_MS);
    // 30 s tokens over 75 s: every victim rotated at least twice, each time well before expiry
    expect(lateness.length).toBeGreaterThanOrEqual(2 * VICTIMS);
    expect(expiredSeen).toEqual([]);
    expect(lateness.at(-1)!).toBeLessThan(6);
  }, 240_000);
});
