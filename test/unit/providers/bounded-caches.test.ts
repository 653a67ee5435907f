import type { ServerMetadata } from 'openid-client';
import { describe, expect, it } from 'vitest';
import { InputError, SecretReader } from '../../../src/controllers/shared/inputs.js';
import { dataHmac, digestTemplatedData, readSecretState, secretHmac } from '../../../src/controllers/shared/secret-state.js';
import { trimCached } from '../../../src/operator.js';
import { DeltaSharingProfileSchema } from '../../../src/providers/dds/index.js';
import { HostLimiters, MAX_CREDENTIAL_CHARS } from '../../../src/providers/http.js';
import { createDiscoveryCache } from '../../../src/providers/oauth2-discovery.js';
import { TokenResponseSchema } from '../../../src/providers/oidc/schemas.js';
import type { KubeClient, KubeObject } from '../../../src/runtime/kube-client.js';
import { ManualClock } from '../../../src/schedule/clock.js';

/** Issue 16 §2: what a namespace user controls never grows the operator's memory without bound. */

const document = (issuer: string): ServerMetadata => ({
  issuer,
  token_endpoint: `${issuer}/protocol/openid-connect/token`,
  revocation_endpoint: `${issuer}/protocol/openid-connect/revoke`,
  // what a hostile issuer pads its document with
  jwks_uri: `${issuer}/certs`,
  claims_supported: Array.from({ length: 5000 }, (_, i) => `claim-${i}`),
  padding: 'x'.repeat(60_000),
});

describe('OIDC discovery cache', () => {
  it('keeps only the fields refresh and revoke use', async () => {
    const cache = createDiscoveryCache();
    const m = await cache.get('https://a.example/realms/r', async () => document('https://a.example/realms/r'));
    expect(m).toEqual({
      issuer: 'https://a.example/realms/r',
      token_endpoint: 'https://a.example/realms/r/protocol/openid-connect/token',
      revocation_endpoint: 'https://a.example/realms/r/protocol/openid-connect/revoke',
    });
    expect(cache.size.bytes).toBeLessThan(300);
  });

  it('holds at most maxEntries issuers and maxBytes, evicting the least recently used', async () => {
    const cache = createDiscoveryCache({ maxEntries: 100, maxBytes: 1_000_000 });
    let loads = 0;
    const load = (i: number) => cache.get(`https://issuer-${i}.example/realms/r`, async () => (loads++, document(`https://issuer-${i}.example/realms/r`)));
    await load(0);
    for (let i = 1; i < 500; i++) {
      await load(i);
      await load(0); // kept warm: the most recently used survives
    }
    expect(cache.size.entries).toBe(100);
    expect(loads).toBe(500);
    await load(0);
    await load(499);
    expect(loads).toBe(500);
    await load(1); // long evicted
    expect(loads).toBe(501);

    const small = createDiscoveryCache({ maxBytes: 2_000 });
    for (let i = 0; i < 100; i++) await small.get(`https://issuer-${i}.example/realms/r`, async () => document(`https://issuer-${i}.example/realms/r`));
    expect(small.size.bytes).toBeLessThanOrEqual(2_000);
    expect(small.size.entries).toBeGreaterThan(5);
  });

  it('forgets failures and expired documents', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const cache = createDiscoveryCache({ clock, ttlMs: 60_000 });
    await expect(cache.get('https://x.example', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(cache.size.entries).toBe(0);
    let loads = 0;
    await cache.get('https://x.example', async () => (loads++, document('https://x.example')));
    clock.advance(61_000);
    await cache.get('https://x.example', async () => (loads++, document('https://x.example')));
    expect(loads).toBe(2);
    expect(cache.size.entries).toBe(1);
  });
});

describe('per-host rate limiters', () => {
  it('drops the limiters of hosts idle for a whole window, and never holds more than the cap', async () => {
    let t = 0;
    const limiters = new HostLimiters(5, () => t);
    for (let i = 0; i < 300; i++) await limiters.take(`https://tenant-${i}.example`);
    expect(limiters.size).toBe(300);
    t += 2_000; // a window (1 s + margin) later nobody used them
    await limiters.take('https://busy.example');
    expect(limiters.size).toBe(1);
  });
});

describe('input Secret size cap', () => {
  const fakeClient = (secret: KubeObject) => ({ find: async () => secret }) as unknown as KubeClient;

  it('refuses a Secret with more data than the cap, naming it, without reading its values', async () => {
    const big = { data: { password: Buffer.from('p').toString('base64'), junk: Buffer.alloc(300 * 1024).toString('base64') } };
    const reader = new SecretReader(fakeClient(big), 'team-a', 256 * 1024);
    const e = await reader.value('creds', 'password', 'spec.dds.credentialsSecretRef').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect(e).toMatchObject({
      reason: 'SecretTooLarge',
      message: 'spec.dds.credentialsSecretRef: Secret "creds" holds 307201 bytes of data, more than the 262144 the operator reads from an input Secret (its maxInputSecretBytes setting); keep only the keys this resource needs in it',
    });
  });

  it('reads a Secret under the cap as before', async () => {
    const reader = new SecretReader(fakeClient({ data: { password: Buffer.from('hunter2').toString('base64') } }), 'team-a', 1024);
    expect(await reader.value('creds', 'password', 'f')).toBe('hunter2');
  });
});

describe('credentials from providers are bounded', () => {
  it('refuses tokens longer than any server accepts in a header', () => {
    const long = 'a'.repeat(MAX_CREDENTIAL_CHARS + 1);
    expect(TokenResponseSchema.safeParse({ access_token: long, token_type: 'bearer' }).success).toBe(false);
    expect(TokenResponseSchema.safeParse({ access_token: 'a', token_type: 'bearer', refresh_token: long }).success).toBe(false);
    expect(TokenResponseSchema.safeParse({ access_token: 'a'.repeat(MAX_CREDENTIAL_CHARS), token_type: 'bearer' }).success).toBe(true);
    expect(DeltaSharingProfileSchema.safeParse({ endpoint: 'https://x.example/delta', bearerToken: long }).success).toBe(false);
    expect(DeltaSharingProfileSchema.safeParse({ endpoint: `https://x.example/${'p'.repeat(5000)}`, bearerToken: 't' }).success).toBe(false);
  });
});

describe('what the informer caches keep of a tenant object', () => {
  it("keeps only the operator's own labels and annotations", () => {
    const obj = trimCached({
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'DeltaShareToken',
      metadata: {
        name: 'a',
        namespace: 'team-a',
        uid: 'u1',
        resourceVersion: '1',
        labels: { app: 'x', 'token-operator.io/owner-kind': 'DeltaShareToken' },
        annotations: { 'token-operator.io/rotate': 'now', 'kubectl.kubernetes.io/last-applied-configuration': '{}', padding: 'x'.repeat(200_000) },
      },
      spec: { target: { secretName: 's' } },
    });
    expect(obj.metadata?.annotations).toEqual({ 'token-operator.io/rotate': 'now' });
    expect(obj.metadata?.labels).toEqual({ 'token-operator.io/owner-kind': 'DeltaShareToken' });
  });

  it("drops the data of a large labelled Secret no resource of ours owns, and keeps our own Secrets' data", () => {
    const data = { junk: 'A'.repeat(100_000) };
    const labels = { 'app.kubernetes.io/managed-by': 'token-operator' };
    const foreign = trimCached({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'junk', namespace: 'team-a', uid: 'u', resourceVersion: '1', labels }, data });
    expect(foreign.data).toEqual({});
    expect(foreign.metadata?.labels).toEqual(labels);
    const owner = { apiVersion: 'token-operator.io/v1alpha1', kind: 'DataToken', name: 'd', uid: 'o' };
    const own = trimCached({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'team-a', uid: 'u2', resourceVersion: '1', labels, ownerReferences: [owner] }, data });
    expect(own.data).toEqual(data);
    const small = trimCached({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'team-a', uid: 'u3', resourceVersion: '1', labels }, data: { k: 'dg==' } });
    expect(small.data).toEqual({ k: 'dg==' });
  });
});

describe('what the Secret cache keeps of a templated target Secret', () => {
  const key = Buffer.alloc(32, 7);
  const labels = { 'app.kubernetes.io/managed-by': 'token-operator' };
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const secret = (annotations: Record<string, string>, data: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's', namespace: 'team-a', uid: 'u', resourceVersion: '1', labels, annotations: { 'token-operator.io/created-by': 'owner-uid', ...annotations } },
    data,
  });
  const written = JSON.stringify({ data: ['ACCESS_TOKEN', 'authorization'] });

  it('keeps the keys and the HMAC of what the operator wrote, not the values', () => {
    const data = { ACCESS_TOKEN: b64('tok-1'), authorization: b64('GNAP tok-1'), added: b64('a key someone else added') };
    const cached = digestTemplatedData(secret({ 'token-operator.io/template': 'sha256:0123', 'token-operator.io/written-keys': written }, { ...data }), key);
    expect(cached.data).toEqual({ ACCESS_TOKEN: '', authorization: '', added: '' });
    const state = readSecretState(cached, 'owner-uid');
    expect(state).toMatchObject({ exists: true, owned: true, templated: true, data: {} });
    // the same HMAC the reconcile computed from the values, over the operator's keys only
    expect(secretHmac(key, state)).toBe(dataHmac(key, { ACCESS_TOKEN: 'tok-1', authorization: 'GNAP tok-1' }));
    // an edit of an operator key is a different HMAC: drift is still seen
    const edited = digestTemplatedData(secret({ 'token-operator.io/template': 'sha256:0123', 'token-operator.io/written-keys': written }, { ...data, ACCESS_TOKEN: b64('x') }), key);
    expect(secretHmac(key, readSecretState(edited, 'owner-uid'))).not.toBe(secretHmac(key, state));
  });

  it('leaves a Secret without a template (its values are the credential) and any Secret before the key is loaded', () => {
    const data = { access_token: b64('tok-1') };
    const plain = digestTemplatedData(secret({ 'token-operator.io/written-keys': JSON.stringify({ data: ['access_token'] }) }, { ...data }), key);
    expect(plain.data).toEqual(data);
    expect(readSecretState(plain, 'owner-uid').data).toEqual({ access_token: 'tok-1' });
    const early = digestTemplatedData(secret({ 'token-operator.io/template': 'sha256:0123', 'token-operator.io/written-keys': written }, { ...data }), Buffer.alloc(0));
    expect(early.data).toEqual(data);
  });
});

describe('resources stamped from one chart', () => {
  it('share one cached spec.target.template object', () => {
    const cr = (name: string, prefix: string) =>
      trimCached({
        apiVersion: 'token-operator.io/v1alpha1',
        kind: 'AccessToken',
        metadata: { name, namespace: 'team-a', uid: name, resourceVersion: '1' },
        spec: { target: { secretName: name, template: { data: { ACCESS_TOKEN: '{{access_token}}', authorization: `${prefix} {{access_token}}` } } } },
      });
    const tmpl = (o: KubeObject) => (o.spec as { target: { template: unknown } }).target.template;
    expect(tmpl(cr('a', 'GNAP'))).toBe(tmpl(cr('b', 'GNAP')));
    expect(tmpl(cr('c', 'Bearer'))).not.toBe(tmpl(cr('a', 'GNAP')));
    expect(tmpl(cr('c', 'Bearer'))).toEqual({ data: { ACCESS_TOKEN: '{{access_token}}', authorization: 'Bearer {{access_token}}' } });
  });
});
