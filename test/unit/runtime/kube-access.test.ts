import { mkdtempSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadKubeAccess } from '../../../src/runtime/kube-access.js';

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubeaccess-'));
  const path = join(dir, 'config');
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }, { name: 'other', context: { cluster: 'x', user: 'y' } }],
      clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': Buffer.from('CA').toString('base64'), ...cluster } }],
      users: [{ name: 'u', user }],
    }),
  );
  return path;
}

describe('loadKubeAccess', () => {
  it('reads server, CA and bearer token from the current context', async () => {
    const access = await loadKubeAccess({ KUBECONFIG: kubeconfig({ token: 'sentinel-token' }) });
    const o: https.RequestOptions = {};
    await access.applyToHTTPSOptions(o);
    expect(access.server).toBe('https://127.0.0.1:6443');
    expect(String(o.ca)).toBe('CA');
    expect(o.headers).toEqual({ authorization: 'Bearer sentinel-token' });
  });

  it('reads client certificates and a token file (re-read on each call)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubeaccess-tok-'));
    writeFileSync(join(dir, 'token'), 'first\n');
    const access = await loadKubeAccess({
      KUBECONFIG: kubeconfig({
        'client-certificate-data': Buffer.from('CERT').toString('base64'),
        'client-key-data': Buffer.from('KEY').toString('base64'),
        tokenFile: join(dir, 'token'),
      }),
    });
    const o: https.RequestOptions = {};
    await access.applyToHTTPSOptions(o);
    expect(String(o.cert)).toBe('CERT');
    expect(String(o.key)).toBe('KEY');
    expect(o.headers).toEqual({ authorization: 'Bearer first' });
    writeFileSync(join(dir, 'token'), 'second\n');
    const o2: https.RequestOptions = {};
    await access.applyToHTTPSOptions(o2);
    expect(o2.headers).toEqual({ authorization: 'Bearer second' });
  });

  it('honours insecure-skip-tls-verify and basic auth', async () => {
    const access = await loadKubeAccess({ KUBECONFIG: kubeconfig({ username: 'a', password: 'b' }, { 'insecure-skip-tls-verify': true }) });
    const o: https.RequestOptions = {};
    await access.applyToHTTPSOptions(o);
    expect(o.rejectUnauthorized).toBe(false);
    expect(o.auth).toBe('a:b');
  });

  it('hands exec-plugin users to @kubernetes/client-node', async () => {
    const access = await loadKubeAccess({ KUBECONFIG: kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } }) });
    expect(access.server).toBe('https://127.0.0.1:6443');
  });

  it('fails clearly without any credentials', async () => {
    await expect(loadKubeAccess({ KUBECONFIG: '/nonexistent', HOME: '/nonexistent' })).rejects.toThrow(/no Kubernetes credentials|kubeconfig/);
  });
});
