import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsResolver } from '../../../../src/providers/egress/connector.js';
import { EgressPolicy } from '../../../../src/providers/egress/policy.js';
import { ProviderError } from '../../../../src/providers/errors.js';
import { fetchHttpClient, send, type ObservedCall } from '../../../../src/providers/http.js';
import { startDnsServer, type TestDnsServer } from '../../../support/dns-server.js';

/**
 * The connect-time half of the egress policy, against real sockets: listeners on loopback
 * addresses count every TCP connection they accept, and host names resolve through a real DNS
 * server on 127.0.0.1 (test/support/dns-server.ts) that the policy's resolver asks.
 */

interface Listener {
  server: Server;
  port: number;
  connections: number;
  close(): Promise<void>;
}

async function listen(host: string, handler: Parameters<typeof createServer>[1] = (_q, s) => s.end('{}')): Promise<Listener> {
  const server = createServer(handler);
  const l = { server, port: 0, connections: 0, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  server.on('connection', () => l.connections++);
  await new Promise<void>((r) => server.listen(0, host, r));
  l.port = (server.address() as AddressInfo).port;
  return l;
}

let one: Listener;
let two: Listener;
let dns: TestDnsServer;

beforeAll(async () => {
  // `connection: close` so that every request needs a new connection (and a new lookup)
  one = await listen('127.0.0.1', (q, s) => {
    if (q.url === '/redirect') {
      s.writeHead(302, { location: `http://127.0.0.2:${two.port}/`, connection: 'close' }).end();
      return;
    }
    s.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end('{"ok":true}');
  });
  two = await listen('127.0.0.2');
  dns = await startDnsServer({
    'loop.test': ['127.0.0.1'],
    'meta.test': ['169.254.169.254'],
    'meta6.test': ['fd00:ec2::254'],
    'mixed.test': ['127.0.0.1', '169.254.169.254'],
    'mapped.test': ['::ffff:127.0.0.1'],
    'rebind.test': ['127.0.0.1'],
    'linklocal.test': ['169.254.3.4'],
  });
});

afterAll(async () => {
  await one?.close();
  await two?.close();
  await dns?.close();
});

function client(policy: EgressPolicy, connects: string[] = []) {
  const observed: ObservedCall[] = [];
  const http = fetchHttpClient({
    egress: { policy, resolver: dnsResolver([dns.server]), onConnect: (t) => connects.push(`${t.address}:${t.port}`) },
  });
  const get = (url: string) => send(http, { method: 'GET', url, allowInsecureHttp: true }, { provider: 'test', call: 'get', observe: (o) => observed.push(o) });
  return { get, observed };
}

async function refusal(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ProviderError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('egress at connect time', () => {
  it('refuses loopback in every spelling, and names that resolve to it, with no connection made', async () => {
    const connects: string[] = [];
    const { get, observed } = client(new EgressPolicy({ allowInsecureHttp: true }), connects);
    const p = one.port;
    const urls = [
      `http://127.0.0.1:${p}/`,
      `http://[::ffff:127.0.0.1]:${p}/`,
      `http://[::ffff:7f00:1]:${p}/`,
      `http://2130706433:${p}/`,
      `http://0x7f.1:${p}/`,
      `http://0x7f000001:${p}/`,
      `http://loop.test:${p}/`,
      `http://mapped.test:${p}/`,
      `http://0.0.0.0:${p}/`, // Linux connects 0.0.0.0 to the local host
      `http://[::]:${p}/`,
    ];
    for (const url of urls) {
      const e = await refusal(get(url));
      expect(e.kind, url).toBe('EgressDenied');
      expect(e.message).toMatch(/^get: egress to .+ refused: it is (a loopback|an unspecified) address/);
    }
    expect(one.connections).toBe(0);
    expect(connects).toEqual([]);
    expect(observed.every((o) => o.outcome === 'egress-denied')).toBe(true);
    // the names really were looked up, over DNS
    expect(dns.queries).toEqual(expect.arrayContaining(['loop.test', 'mapped.test']));
  });

  it('refuses names resolving to metadata addresses, and a name with any denied answer, without connecting', async () => {
    const connects: string[] = [];
    const { get } = client(new EgressPolicy({ allowInsecureHttp: true, allowLoopback: true }), connects);
    expect((await refusal(get('http://meta.test/latest/meta-data/'))).message).toBe('get: egress to meta.test refused: it is a cloud metadata address');
    expect((await refusal(get('http://meta6.test/'))).message).toContain('cloud metadata');
    expect((await refusal(get(`http://mixed.test:${one.port}/`))).message).toContain('cloud metadata');
    expect(connects).toEqual([]);
    expect(one.connections).toBe(0);
  });

  it('connects to the address it judged: a name rebound to a denied address is refused on the next connection', async () => {
    const connects: string[] = [];
    const { get } = client(new EgressPolicy({ allowInsecureHttp: true, allowLoopback: true, deniedCidrs: ['127.0.0.2/32'] }), connects);
    const before = one.connections;
    expect((await get(`http://rebind.test:${one.port}/`)).status).toBe(200);
    expect(one.connections).toBe(before + 1);
    dns.records.set('rebind.test', ['127.0.0.2']);
    // the listener on 127.0.0.2 shares no port with the first; give it the same path to reach
    const e = await refusal(get(`http://rebind.test:${two.port}/`));
    expect(e.message).toContain("a range the operator is configured to deny");
    expect(two.connections).toBe(0);
    expect(connects).toEqual([`127.0.0.1:${one.port}`]);
  });

  it('never follows a redirect', async () => {
    const { get } = client(new EgressPolicy({ allowInsecureHttp: true, allowLoopback: true }));
    const res = await get(`http://127.0.0.1:${one.port}/redirect`);
    expect(res.status).toBe(302);
    expect(two.connections).toBe(0);
  });

  it('lets allowed addresses through, and fails unknown names as a transport error naming no address', async () => {
    const { get } = client(new EgressPolicy({ allowInsecureHttp: true, allowLoopback: true }));
    expect((await get(`http://loop.test:${one.port}/`)).status).toBe(200);
    const e = await refusal(get('http://nowhere.test/'));
    expect(e).toMatchObject({ kind: 'Retryable', message: 'get: network error (host name not found)' });
  });
});

describe('URLs providers hand back pass the same policy', () => {
  const http = () => fetchHttpClient({ egress: { policy: new EgressPolicy({ allowInsecureHttp: true, allowLoopback: true }), resolver: dnsResolver([dns.server]) } });

  it('a Privicore download link: held to https without the resource consent, and to the address rules', async () => {
    const { createPrivicoreProvider } = await import('../../../../src/providers/privicore/index.js');
    const { systemClock } = await import('../../../../src/schedule/clock.js');
    const make = (allowInsecureHttp: boolean) =>
      createPrivicoreProvider({ http: http(), clock: systemClock, apiUrl: 'https://privicore.example', profile: { username: 'u', password: 'p' }, allowInsecureHttp });
    const before = one.connections;
    expect(await refusal(make(false).download(`http://127.0.0.1:${one.port}/download?auth=a`))).toMatchObject({ kind: 'EgressDenied', message: expect.stringMatching(/^download: egress to 127\.0\.0\.1:\d+ refused: plain http:\/\/ is refused/) });
    expect(await refusal(make(true).download('http://meta.test/download?auth=a'))).toMatchObject({ kind: 'EgressDenied', message: 'download: egress to meta.test refused: it is a cloud metadata address' });
    expect(one.connections).toBe(before);
  });

  it('a GNAP manage URL: refused before anything is signed and sent', async () => {
    const { createGnapProvider } = await import('../../../../src/providers/gnap/index.js');
    const { generateKeyPairSync } = await import('node:crypto');
    const privateKeyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const gnap = createGnapProvider({ http: http(), allowInsecureHttp: true });
    const ref = { walletAddressUrl: 'https://wallet.example/alice', keyId: 'k1', privateKeyPem, accessToken: 'AT-1', allowInsecureHttp: true };
    expect(await refusal(gnap.rotate({ ...ref, manageUrl: 'http://[fd00:ec2::254]/token/0f6b' }))).toMatchObject({ kind: 'EgressDenied', message: 'rotate: egress to [fd00:ec2::254] refused: it is a cloud metadata address' });
    expect(await refusal(gnap.rotate({ ...ref, manageUrl: 'http://linklocal.test/token/0f6b' }))).toMatchObject({ kind: 'EgressDenied' });
  });
});
