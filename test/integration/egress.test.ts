/**
 * The egress policy (issue 16 §1) against the real API server: a namespace user cannot aim the
 * operator at internal addresses, in any spelling, through a host name, or through a URL a
 * provider hands back; a refused call stalls the resource with reason EgressDenied, names the
 * host only, and makes no connection.
 *
 * "No connection" is counted twice: a TCP listener on the target address (127.0.0.1, which
 * the other spellings and 0.0.0.0 also reach on Linux) counts every connection it accepts,
 * and the operator's connector reports every connect it starts (OperatorDeps.egress.onConnect),
 * which also covers addresses no test can listen on (169.254.169.254, fd00:ec2::254).
 *
 * Host names resolve for real: a DNS server on 127.0.0.1 (test/support/dns-server.ts) answers
 * the operator's resolver (dnsResolver pointed at it), over UDP, from a table each test fills.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsResolver } from '../../src/providers/egress/connector.js';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { ddsFixture } from '../support/fixtures.js';
import { adminClient, condition, createNamespace, createResource, createSecret, getResource, startTestOperator, waitFor, waitForResource, type TestOperator } from '../support/harness.js';
import { selfSignedCertificate } from '../support/tls.js';

const DST = 'deltasharetokens';

let client: KubeClient;
let dns: TestDnsServer;
let trap: { server: Server; port: number; connections: number };
const connects: string[] = [];

beforeAll(async () => {
  client = adminClient();
  dns = await startDnsServer();
  const server = createServer((_q, s) => s.end('{}'));
  trap = { server, port: 0, connections: 0 };
  server.on('connection', () => trap.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  trap.port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  trap?.server.closeAllConnections();
  await new Promise<void>((r) => (trap ? trap.server.close(() => r()) : r()));
  await dns?.close();
});

/** An operator watching only `ns`, resolving through the test DNS server, counting its connects. */
function operator(ns: string, overrides: Parameters<typeof startTestOperator>[0] = {}, ca?: string): Promise<TestOperator> {
  return startTestOperator(
    { watchNamespaces: [ns], ...overrides },
    { egress: { resolver: dnsResolver([dns.server]), onConnect: (t) => connects.push(`${t.address}:${t.port}`), ...(ca ? { ca } : {}) } },
  );
}

/** Waits until the resource is stalled; returns its Ready condition. */
async function stalled(ns: string, name: string, plural = DST) {
  const r = await waitForResource(client, plural, ns, name, 'Stalled', (x) => condition(x, 'Stalled')?.status === 'True');
  expect(condition(r, 'Ready')?.status).toBe('False');
  return condition(r, 'Ready')!;
}

async function warningEvents(ns: string, name: string): Promise<Array<{ reason: string; message: string }>> {
  const list = await client.get<KubeObject & { items: Array<{ reason: string; message: string; involvedObject: { name: string } }> }>(`/api/v1/namespaces/${ns}/events`);
  return list.items.filter((e) => e.involvedObject.name === name);
}

describe('egress policy, loopback denied (as in a cluster)', () => {
  let op: TestOperator;
  let ns: string;
  let sim: DdsSimulator;

  beforeAll(async () => {
    ns = await createNamespace(client, 'egress-strict');
    sim = await startDdsSimulator();
    op = await operator(ns, { allowLoopbackEgress: false });
  });
  afterAll(async () => {
    await op?.stop();
    await sim?.close();
  });

  it('refuses every denied address family, in every spelling and through DNS, with no connection made', async () => {
    dns.records.set('loop.test', ['127.0.0.1']);
    dns.records.set('mapped.test', ['::ffff:127.0.0.1']);
    dns.records.set('metadata.test', ['169.254.169.254']);
    dns.records.set('metadata6.test', ['fd00:ec2::254']);
    dns.records.set('linklocal.test', ['169.254.10.10']);
    const p = trap.port;
    const targets: Array<[string, string, RegExp]> = [
      ['literal', `http://127.0.0.1:${p}`, /egress to 127\.0\.0\.1:\d+ refused: it is a loopback address/],
      ['mapped', `http://[::ffff:127.0.0.1]:${p}`, /refused: it is a loopback address/],
      ['decimal', `http://2130706433:${p}`, /egress to 127\.0\.0\.1:\d+ refused: it is a loopback address/],
      ['hex', `http://0x7f.0.0.1:${p}`, /refused: it is a loopback address/],
      ['dns-loop', `http://loop.test:${p}`, /egress to loop\.test:\d+ refused: it is a loopback address/],
      ['dns-mapped', `http://mapped.test:${p}`, /egress to mapped\.test:\d+ refused: it is a loopback address/],
      ['unspecified', `http://0.0.0.0:${p}`, /refused: it is an unspecified address/],
      ['metadata', 'http://169.254.169.254', /egress to 169\.254\.169\.254 refused: it is a cloud metadata address/],
      ['metadata-decimal', 'http://2852039166', /egress to 169\.254\.169\.254 refused: it is a cloud metadata address/],
      ['metadata-v6', 'http://[fd00:ec2::254]', /refused: it is a cloud metadata address/],
      ['metadata-mapped', 'http://[::ffff:a9fe:a9fe]', /refused: it is a cloud metadata address/],
      ['metadata-alibaba', 'http://100.100.100.200', /refused: it is a cloud metadata address/],
      ['dns-metadata', 'http://metadata.test', /egress to metadata\.test refused: it is a cloud metadata address/],
      ['dns-metadata6', 'http://metadata6.test', /egress to metadata6\.test refused: it is a cloud metadata address/],
      ['dns-linklocal', 'http://linklocal.test', /egress to linklocal\.test refused: it is a link-local address/],
      ['linklocal-v6', 'http://[fe80::1]', /refused: it is a link-local address/],
    ];
    for (const [name, apiUrl] of targets) await createResource(client, DST, await ddsFixture(client, sim, name, { namespace: ns, apiUrl }));
    for (const [name, , message] of targets) {
      const ready = await stalled(ns, name);
      expect(ready.reason, name).toBe('EgressDenied');
      expect(ready.message, name).toMatch(message);
      // the host only: never the path the operator would have called (/auth/token), never an address it resolved
      expect(ready.message, name).not.toContain('/auth/token');
      if (name.startsWith('dns-')) expect(ready.message, name).not.toMatch(/127\.0\.0\.1|169\.254|fd00/);
    }
    expect(trap.connections).toBe(0);
    expect(connects).toEqual([]);
    expect(sim.state.log).toEqual([]);
    // the names were really looked up over DNS
    expect(dns.queries).toEqual(expect.arrayContaining(['loop.test', 'mapped.test', 'metadata.test', 'metadata6.test', 'linklocal.test']));
    // the same words in the Warning event; the metric counts by provider only
    expect((await warningEvents(ns, 'dns-metadata')).find((e) => e.reason === 'EgressDenied')?.message).toMatch(/egress to metadata\.test refused/);
    const metrics = await op.metrics.registry.metrics();
    const denied = Number(/^token_operator_egress_denied_total\{provider="dds"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
    expect(denied).toBeGreaterThanOrEqual(targets.length);
    expect(metrics).not.toMatch(/token_operator_egress_denied_total\{[^}]*(host|url)=/);
  });
});

describe('egress policy, local development (loopback allowed)', () => {
  let op: TestOperator;
  let ns: string;
  let sim: DdsSimulator;
  let tlsSim: DdsSimulator | undefined;
  let issuer: { server: Server; url: string } | undefined;
  // an API server replica as the kubernetes Service's EndpointSlice lists it (the test control
  // plane keeps none itself: --endpoint-reconciler-type=none), on this machine's own non-loopback
  // address (an EndpointSlice may not list loopback addresses)
  const hostAddress = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4')?.address;
  let replica: { server: Server; port: number; connections: number } | undefined;
  const slicePath = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes';
  const cert = selfSignedCertificate(['dds-tls.test']);

  beforeAll(async () => {
    ns = await createNamespace(client, 'egress-dev');
    if (hostAddress) {
      const server = createServer((_q, s) => s.end('{}'));
      const r = { server, port: 0, connections: 0 };
      server.on('connection', () => r.connections++);
      await new Promise<void>((done) => server.listen(0, hostAddress, done));
      r.port = (server.address() as AddressInfo).port;
      replica = r;
      await client.create('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [hostAddress] }],
        ports: [{ name: 'https', port: r.port, protocol: 'TCP' }],
      });
    } else {
      console.warn("skipping the EndpointSlice case: this machine has no non-loopback IPv4 address to list as an API server");
    }
    sim = await startDdsSimulator();
    if (cert) {
      tlsSim = await startDdsSimulator({ tls: cert });
      dns.records.set('dds-tls.test', ['127.0.0.1']);
      tlsSim.state.baseUrl = `https://dds-tls.test:${new URL(tlsSim.url).port}`;
    }
    op = await operator(ns, {}, cert?.cert);
  });
  afterAll(async () => {
    await op?.stop();
    if (replica) await client.delete(slicePath).catch(() => undefined);
    replica?.server.closeAllConnections();
    await new Promise<void>((r) => (replica ? replica.server.close(() => r()) : r()));
    await sim?.close();
    await tlsSim?.close();
    await new Promise<void>((r) => (issuer ? issuer.server.close(() => r()) : r()));
  });

  it("refuses the cluster's own API server, even though loopback is allowed", async () => {
    const api = client.server; // https://127.0.0.1:<port> of the test control plane
    await createResource(client, DST, await ddsFixture(client, sim, 'apiserver', { namespace: ns, apiUrl: api.origin }));
    const ready = await stalled(ns, 'apiserver');
    expect(ready).toMatchObject({ reason: 'EgressDenied', message: expect.stringMatching(/egress to 127\.0\.0\.1:\d+ refused: it is the cluster's API server/) });
    expect(connects.filter((c) => c.endsWith(`:${api.port}`))).toEqual([]);
    // and every API server the kubernetes Service's endpoints list, with no connection made
    if (replica) {
      const url = `http://${hostAddress}:${replica.port}`;
      await createResource(client, DST, await ddsFixture(client, sim, 'apiserver-replica', { namespace: ns, apiUrl: url }));
      expect((await stalled(ns, 'apiserver-replica')).message).toBe(`dds: auth-token: egress to ${new URL(url).host} refused: it is the cluster's API server`);
      expect(replica.connections).toBe(0);
      expect(connects.filter((c) => c.endsWith(`:${replica!.port}`))).toEqual([]);
    }
    // the same address on another port (a provider simulator) is reachable
    await createResource(client, DST, await ddsFixture(client, sim, 'neighbour', { namespace: ns }));
    await waitFor('neighbour Ready', async () => condition(await getResource(client, DST, ns, 'neighbour'), 'Ready')?.status === 'True');
  });

  it('refuses an activation link DDS hands back that points at an internal address, and leaves it unused', async () => {
    const internal = await startDdsSimulator();
    internal.state.baseUrl = 'http://169.254.169.254';
    try {
      await createResource(client, DST, await ddsFixture(client, internal, 'internal-link', { namespace: ns, apiUrl: internal.url }));
      const ready = await stalled(ns, 'internal-link');
      expect(ready).toMatchObject({ reason: 'EgressDenied', message: 'dds: activate: egress to 169.254.169.254 refused: it is a cloud metadata address' });
      expect(internal.state.tokens).toHaveLength(1);
      expect(internal.state.tokens[0]!.downloaded).toBe(false);
      expect(connects.filter((c) => c.startsWith('169.254.'))).toEqual([]);
    } finally {
      await internal.close();
    }
  });

  it.skipIf(!cert)('refuses a plain http:// activation link from an https provider unless the resource allows http', async () => {
    const port = new URL(tlsSim!.url).port;
    // the provider itself is reached over https (trusting the test certificate), its link is http://
    tlsSim!.state.baseUrl = `http://dds-tls.test:${port}`;
    const obj = await ddsFixture(client, tlsSim!, 'http-link', { namespace: ns });
    (obj.spec as { dds: Record<string, unknown> }).dds = { apiUrl: `https://dds-tls.test:${port}`, credentialsSecretRef: { name: 'zdirect-http-link' } };
    await createResource(client, DST, obj);
    const ready = await stalled(ns, 'http-link');
    expect(ready.reason).toBe('EgressDenied');
    expect(ready.message).toMatch(/^dds: activate: egress to dds-tls\.test:\d+ refused: plain http:\/\/ is refused/);
    expect(tlsSim!.state.tokens[0]!.downloaded).toBe(false);
    // over https the same provider works end to end: the pinned address keeps the certificate check on the name
    tlsSim!.state.baseUrl = `https://dds-tls.test:${port}`;
    const good = await ddsFixture(client, tlsSim!, 'https-link', { namespace: ns });
    (good.spec as { dds: Record<string, unknown> }).dds = { apiUrl: `https://dds-tls.test:${port}`, credentialsSecretRef: { name: 'zdirect-https-link' } };
    await createResource(client, DST, good);
    await waitFor('https-link Ready', async () => condition(await getResource(client, DST, ns, 'https-link'), 'Ready')?.status === 'True');
  });
  if (!cert) console.warn('skipping the https provider case: openssl is not installed');

  it('refuses the endpoints OIDC discovery returns when they are internal', async () => {
    // an issuer whose discovery document sends the token request to the metadata service
    const server = createServer((q, s) => {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/r`;
      if (q.url === '/realms/r/.well-known/openid-configuration') {
        s.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: base, token_endpoint: 'http://169.254.169.254/latest/api/token', revocation_endpoint: 'http://[fd00:ec2::254]/revoke' }));
      } else s.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    issuer = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/r` };
    await createSecret(client, ns, 'oidc-seed', { refresh_token: 'seed-refresh-token' });
    await createResource(client, 'accesstokens', {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'AccessToken',
      metadata: { name: 'oidc-internal', namespace: ns },
      spec: {
        oidc: { issuerUrl: issuer.url, clientId: 'c', refreshTokenSecretRef: { name: 'oidc-seed', key: 'refresh_token' }, allowInsecureHttp: true },
        target: { secretName: 'oidc-internal-token' },
      },
    });
    const ready = await stalled(ns, 'oidc-internal', 'accesstokens');
    expect(ready).toMatchObject({ reason: 'EgressDenied', message: 'oidc: refresh: egress to 169.254.169.254 refused: it is a cloud metadata address' });
    expect(connects.filter((c) => c.startsWith('169.254.'))).toEqual([]);
  });
});

describe('egress policy with an allowlist', () => {
  let op: TestOperator;
  let ns: string;
  let sim: DdsSimulator;

  beforeAll(async () => {
    ns = await createNamespace(client, 'egress-allow');
    sim = await startDdsSimulator();
    dns.records.set('dds.allowed.test', ['127.0.0.1']);
    dns.records.set('other.test', ['127.0.0.1']);
    // activation links name the allowed host too
    sim.state.baseUrl = `http://dds.allowed.test:${new URL(sim.url).port}`;
    op = await operator(ns, { egressAllowedHosts: ['*.allowed.test'] });
  });
  afterAll(async () => {
    await op?.stop();
    await sim?.close();
  });

  it('reaches the allowed hosts and nothing else, provider-returned URLs included', async () => {
    const port = new URL(sim.url).port;
    await createResource(client, DST, await ddsFixture(client, sim, 'allowed', { namespace: ns, apiUrl: `http://dds.allowed.test:${port}` }));
    await createResource(client, DST, await ddsFixture(client, sim, 'other', { namespace: ns, apiUrl: `http://other.test:${port}` }));
    await createResource(client, DST, await ddsFixture(client, sim, 'by-address', { namespace: ns, apiUrl: sim.url }));
    await waitFor('allowed Ready', async () => condition(await getResource(client, DST, ns, 'allowed'), 'Ready')?.status === 'True');
    for (const name of ['other', 'by-address']) {
      const ready = await stalled(ns, name);
      expect(ready.reason, name).toBe('EgressDenied');
      expect(ready.message, name).toMatch(/refused: the host is not in the operator's allowlist/);
    }
    // the refused ones never reached the provider; the allowed one did, through its name
    expect(sim.state.log.filter((e) => e.clientId === 'client-other' || e.clientId === 'client-by-address')).toEqual([]);
    expect(sim.state.tokens.filter((t) => t.account === 'client-allowed' && t.downloaded)).toHaveLength(1);
    // a link outside the allowlist is refused like any other URL
    sim.state.baseUrl = sim.url;
    await createResource(client, DST, await ddsFixture(client, sim, 'link-outside', { namespace: ns, apiUrl: `http://dds.allowed.test:${port}` }));
    const ready = await stalled(ns, 'link-outside');
    expect(ready.message).toMatch(/^dds: activate: egress to 127\.0\.0\.1:\d+ refused: the host is not in the operator's allowlist/);
  });
});
