/**
 * The operator as pods from its Helm chart on a real node (installed by global-setup.ts):
 * Ready under the restricted Pod Security Standard with a read-only root filesystem, one leader
 * of two, metrics served on the pods and through the metrics Service (kube-proxy), the samples
 * in deploy/samples reconciled against the simulators, and the CLI (`kubectl token status -A`,
 * the kubectl plugin) reading this cluster.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import { generateJwk } from '@interledger/http-signature-utils';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sampleObjects, sampleTokens, type SampleObject } from '../../scripts/samples.js';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { adminClient, condition, crPath, getSecretData, waitFor } from '../support/harness.js';
import { FULLNAME, leaderPod, operatorPods, podReady, RELEASE, ROOT } from './operator.js';
import { skipNote, skipReason, startSimulators, type Simulators } from './support.js';

let client: KubeClient;
let sims: Simulators;
let samples: SampleObject[];

const plural: Record<string, string> = { DeltaShareToken: 'deltasharetokens', AccessToken: 'accesstokens', DataToken: 'datatokens' };

/** GET on a new connection each time: through the Service, kube-proxy picks a pod per connection */
function metrics(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
  });
}

describe.skipIf(!!skipReason)(`the operator as pods from its Helm chart${skipNote}`, () => {
  beforeAll(async () => {
    client = adminClient();
    sims = await startSimulators();
    // the simulators' first GNAP grant, as `npm run simulators --write-gnap-grant` makes it
    const keyId = 'e2e-key';
    const { privateKey } = generateKeyPairSync('ed25519');
    const walletAddressUrl = sims.gnap.walletAddressUrl('alice');
    sims.gnap.registerClientKey(walletAddressUrl, generateJwk({ privateKey, keyId }));
    const grant = sims.gnap.issueToken(undefined, { walletAddressUrl });
    sims.privicore.addProfile('demo', 'demo-password');
    samples = sampleObjects(ROOT, { dds: sims.dds.url, gnap: sims.gnap.url, privicore: sims.privicore.url }, {
      walletAddressUrl,
      keyId,
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      accessToken: grant.value,
      manageUrl: grant.manageUrl,
    });
  });

  afterAll(async () => {
    // delete the samples while the simulators still answer (Revoke policies revoke there)
    for (const o of (samples ?? []).filter((x) => plural[x.kind])) {
      await client.delete(crPath(plural[o.kind]!, o.metadata.namespace!, o.metadata.name)).catch(() => undefined);
    }
    for (const o of (samples ?? []).filter((x) => plural[x.kind])) {
      await waitFor(`${o.metadata.name} deleted`, async () => (await client.find(crPath(plural[o.kind]!, o.metadata.namespace!, o.metadata.name))) === undefined, 60_000, 500).catch(() => undefined);
    }
    await sims?.close();
  });

  it('two replicas are Ready under the restricted Pod Security Standard, with the chart ServiceAccount, one of them the leader', async () => {
    const ns = await client.get<KubeObject>(`/api/v1/namespaces/${RELEASE.namespace}`);
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const pods = await operatorPods(client);
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(podReady(p)).toBe(true);
      const spec = p.spec as unknown as { serviceAccountName: string; containers: Array<{ securityContext: Record<string, unknown>; readinessProbe?: unknown; livenessProbe?: unknown }> };
      expect(spec.serviceAccountName).toBe(FULLNAME);
      expect(spec.containers[0]!.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true });
      expect(spec.containers[0]!.readinessProbe).toBeDefined();
      expect(spec.containers[0]!.livenessProbe).toBeDefined();
    }
    const leader = await waitFor('a leader', () => leaderPod(client), 60_000, 500);
    expect(pods.map((p) => p.metadata!.name)).toContain(leader);
  });

  it('reconciles the samples (deploy/samples) against the simulators: every one Ready, its Secret written', async () => {
    const namespaces = [...new Set(samples.map((o) => o.metadata.namespace).filter((n): n is string => !!n))];
    for (const n of namespaces) await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } }).catch(() => undefined);
    execFileSync('kubectl', ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: samples }), env: { ...process.env, KUBECONFIG: inject('kubeconfigPath') }, stdio: ['pipe', 'ignore', 'pipe'] });
    const tokens = sampleTokens(samples);
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    for (const t of tokens) {
      const [kind, namespace, name] = t.split('/') as [string, string, string];
      const r = await waitFor(`${t} Ready`, async () => {
        const got = await client.find(crPath(plural[kind]!, namespace, name));
        return condition(got, 'Ready')?.status === 'True' ? got : undefined;
      }, 120_000, 500);
      const target = (r.spec as { target: { secretName: string } }).target.secretName;
      const data = await getSecretData(client, namespace, target);
      expect(Object.keys(data ?? {}).length, `${t}: Secret ${target}`).toBeGreaterThan(0);
    }
  });

  it('serves /metrics on every pod and through the metrics Service (kube-proxy), with the samples in them', async () => {
    for (const p of await operatorPods(client)) {
      const text = await metrics(`http://${p.status.podIP}:8080/metrics`);
      expect(text).toContain('token_operator_build_info');
    }
    const svc = await client.get<KubeObject & { spec: { clusterIP: string; ports: Array<{ port: number }> } }>(`/api/v1/namespaces/${RELEASE.namespace}/services/${FULLNAME}-metrics`);
    // the Service balances over both pods; only the leader reports the tokens
    const seen = { leader: false, standby: false };
    await waitFor('both pods through the Service', async () => {
      const text = await metrics(`http://${svc.spec.clusterIP}:${svc.spec.ports[0]!.port}/metrics`);
      if (/^token_operator_leader 1$/m.test(text)) {
        seen.leader ||= /token_operator_token_ready_status\{[^}]*namespace="token-demo"[^}]*\} 1/.test(text);
      } else if (/^token_operator_leader 0$/m.test(text)) {
        seen.standby = true;
      }
      return seen.leader && seen.standby;
    }, 60_000, 100);
  });

  it('the CLI as a kubectl plugin: `kubectl token status -A` lists the samples, Ready', () => {
    // kubectl finds plugins on PATH as kubectl-<name>: a shim running the CLI from this checkout
    const bin = mkdtempSync(join(tmpdir(), 'kubectl-plugin-'));
    try {
      writeFileSync(join(bin, 'kubectl-token'), `#!/bin/sh\nexec "${join(ROOT, 'node_modules', '.bin', 'tsx')}" "${join(ROOT, 'src', 'cli', 'main.ts')}" "$@"\n`);
      chmodSync(join(bin, 'kubectl-token'), 0o755);
      const out = execFileSync('kubectl', ['token', 'status', '-A'], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, KUBECONFIG: inject('kubeconfigPath') } });
      console.log(`[e2e cli]\n${out}`);
      for (const t of sampleTokens(samples)) {
        const [kind, namespace, name] = t.split('/') as [string, string, string];
        expect(out).toMatch(new RegExp(`${kind} +${namespace} +${name} +True`));
      }
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
