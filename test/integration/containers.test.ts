/**
 * testcontainers, where containers are the natural unit: the provider simulators and Keycloak as
 * containers built from the project's own Dockerfiles (scripts/image.sh, offline), the operator's
 * own image as a container, all started through podman's Docker-compatible API
 * (test/support/containers.ts has the settings this machine needs).
 *
 * - the DeltaShareToken life (activate, rotate on request with the overlap, revoke on delete)
 *   against the simulators container, operator in-process;
 * - the OIDC refresh chain (issue from an offline seed, refresh on request, revoke on delete)
 *   against the Keycloak container, operator in-process;
 * - the operator image itself (uid 65532, read-only root file system, no capabilities), reaching
 *   the API server through an exec credential plugin (client-node's lazily loaded chunk of the
 *   bundle), reconciling a DeltaShareToken, a DataToken, a GNAP AccessToken (simulators
 *   container) and an OIDC AccessToken (Keycloak container) to Ready.
 *
 * Skips with a one-line reason without podman; fails instead with REQUIRE_CONTAINER_TESTS=1 (CI).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, PullPolicy, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient } from '../../src/runtime/kube-client.js';
import { freePort } from '../cluster/control-plane.js';
import { buildImage, containerPid, containersUnavailable, IMAGES, keycloakCdsDir, projectContainer, startPodman, type Podman } from '../support/containers.js';
import { createEveryKind, expectCleanJsonLogs, expectEveryKindWorks, writeExecKubeconfig } from '../support/every-kind.js';
import { profileStatus } from '../support/fixtures.js';
import {
  adminClient,
  createNamespace,
  createResource,
  createSecret,
  deleteResource,
  getResource,
  getSecretData,
  privateCredential,
  requestRotation,
  startTestOperator,
  waitFor,
  waitForReady,
  type TestOperator,
} from '../support/harness.js';
import { introspect, KEYCLOAK_ADMIN, provisionRealm, refreshTokenActive, seedOfflineToken, type KeycloakRealm } from '../support/keycloak.js';

const skip = await containersUnavailable();
if (skip) console.warn(`skipping the container tests: ${skip}; set REQUIRE_CONTAINER_TESTS=1 to fail instead`);

const API = 'token-operator.io/v1alpha1';

/** GenericContainer with the chart's read-only root file system (testcontainers has no builder method for it). */
class ReadOnlyRootContainer extends GenericContainer {
  withReadOnlyRootFilesystem(): this {
    this.hostConfig.ReadonlyRootfs = true;
    return this;
  }
}

describe.skipIf(skip !== undefined)(`containers through podman (testcontainers)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let podman: Podman | undefined;
  let simulators: StartedTestContainer;
  let keycloak: StartedTestContainer;
  let client: KubeClient;
  /** the URLs the host (and the operator) use for each simulator: fixed host ports, so the simulators can hand them out */
  const sim = { dds: '', gnap: '', privicore: '' };
  let keycloakUrl: string;

  beforeAll(async () => {
    client = adminClient();
    podman = await startPodman();
    // Keycloak boots for 20-60 s: start it first, build and start the rest meanwhile
    await buildImage('keycloak');
    const started = Date.now();
    const keycloakStarting = projectContainer(IMAGES.keycloak)
      .withExposedPorts(8080)
      .withBindMounts([{ source: keycloakCdsDir(), target: '/cds', mode: 'rw' }])
      // class-data sharing as scripts/keycloak.sh uses it: the JVM writes the archive at the first
      // clean stop and maps it on later starts (it rebuilds it itself when the image changes)
      .withEnvironment({
        JAVA_OPTS_APPEND: '-XX:TieredStopAtLevel=1 -XX:+AutoCreateSharedArchive -XX:SharedArchiveFile=/cds/keycloak.jsa',
        // the admin test/support/keycloak.ts logs in as
        KC_BOOTSTRAP_ADMIN_USERNAME: KEYCLOAK_ADMIN.username,
        KC_BOOTSTRAP_ADMIN_PASSWORD: KEYCLOAK_ADMIN.password,
      })
      .withWaitStrategy(Wait.forHttp('/realms/master', 8080).forStatusCode(200))
      .withStartupTimeout(420_000)
      .start();
    keycloakStarting.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile

    await buildImage('simulators');
    const ports = { dds: await freePort(), gnap: await freePort(), privicore: await freePort() };
    for (const k of Object.keys(ports) as Array<keyof typeof ports>) sim[k] = `http://127.0.0.1:${ports[k]}`;
    simulators = await projectContainer(IMAGES.simulators)
      .withExposedPorts({ container: 18081, host: ports.dds }, { container: 18083, host: ports.gnap }, { container: 18084, host: ports.privicore })
      .withEnvironment({ DDS_SIM_PUBLIC_URL: sim.dds, GNAP_SIM_PUBLIC_URL: sim.gnap, PRIVICORE_SIM_PUBLIC_URL: sim.privicore })
      .withWaitStrategy(Wait.forLogMessage('simulators ready'))
      .start();
    await buildImage('operator');

    keycloak = await keycloakStarting;
    keycloakUrl = `http://${keycloak.getHost()}:${keycloak.getMappedPort(8080)}`;
    console.log(`[containers] Keycloak container ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${keycloakUrl}; simulators at ${Object.values(sim).join(' ')}`);
  }, 1_200_000);

  afterAll(async () => {
    await simulators?.stop();
    await keycloak?.stop({ timeout: 60_000 }); // time to write the class-data archive on a first run
    await podman?.stop();
  }, 120_000);

  describe('DeltaShareToken against the simulators container', () => {
    const PLURAL = 'deltasharetokens';
    let ns: string;
    let op: TestOperator;

    beforeAll(async () => {
      ns = await createNamespace(client, 'ctr-dds');
      op = await startTestOperator({ watchNamespaces: [ns], controllers: ['DeltaShareToken'] });
    });
    afterAll(async () => op?.stop());

    it('activates with a working profile, rotates on request keeping the old one for the overlap, revokes every token on delete', async () => {
      // the simulator's demo zDirect client (test/simulators/main.ts)
      await createSecret(client, ns, 'zdirect', { client_id: 'demo-client', client_secret: 'demo-secret' });
      await createResource(client, PLURAL, {
        apiVersion: API,
        kind: 'DeltaShareToken',
        metadata: { name: 'share', namespace: ns },
        spec: { dds: { apiUrl: sim.dds, credentialsSecretRef: { name: 'zdirect' }, allowInsecureHttp: true }, overlap: '1h', target: { secretName: 'share' }, deletionPolicy: 'Revoke' },
      });
      await waitForReady(client, PLURAL, ns, 'share', 'Issued');
      const first = (await getSecretData(client, ns, 'share'))!;
      // the Delta Sharing server in the container, through the port mapping the simulator names
      expect(first.endpoint).toBe(`${sim.dds}/delta-sharing/`);
      expect(await profileStatus(first['config.share']!)).toBe(200);

      await requestRotation(client, PLURAL, ns, 'share', 'container-1');
      await waitForReady(client, PLURAL, ns, 'share', 'Rotated', 2);
      const second = (await getSecretData(client, ns, 'share'))!;
      expect(second.bearerToken).not.toBe(first.bearerToken);
      expect(await profileStatus(second['config.share']!)).toBe(200);
      expect(await profileStatus(first['config.share']!)).toBe(200); // within the overlap

      await deleteResource(client, PLURAL, ns, 'share');
      await waitFor('share gone', async () => (await getResource(client, PLURAL, ns, 'share')) === undefined);
      const state = (await (await fetch(`${sim.dds}/_sim/state`)).json()) as { patchZeroCalls: number; tokens: Array<{ revoked: boolean }> };
      expect(state.patchZeroCalls).toBe(1);
      expect(state.tokens.filter((t) => !t.revoked)).toEqual([]);
      expect(await profileStatus(first['config.share']!)).toBe(401);
      expect(await profileStatus(second['config.share']!)).toBe(401);
      expect(await getSecretData(client, ns, 'share')).toBeUndefined();
    });
  });

  describe('AccessToken (oidc) against the Keycloak container', () => {
    const PLURAL = 'accesstokens';
    let ns: string;
    let op: TestOperator;
    let realm: KeycloakRealm;

    beforeAll(async () => {
      realm = await provisionRealm({ baseUrl: keycloakUrl });
      ns = await createNamespace(client, 'ctr-oidc');
      op = await startTestOperator({ watchNamespaces: [ns], controllers: ['AccessToken'] });
    });
    afterAll(async () => op?.stop());

    it('the refresh chain: issues from an offline seed, refreshes on request from the live refresh token, revokes on delete', async () => {
      const seed = (await seedOfflineToken(realm)).refreshToken;
      await createSecret(client, ns, 'seed', { refresh_token: seed });
      await createResource(client, PLURAL, {
        apiVersion: API,
        kind: 'AccessToken',
        metadata: { name: 'dc', namespace: ns },
        spec: {
          oidc: { issuerUrl: realm.issuerUrl, clientId: realm.publicClientId, refreshTokenSecretRef: { name: 'seed', key: 'refresh_token' }, allowInsecureHttp: true },
          target: { secretName: 'dc-token' },
          deletionPolicy: 'Revoke',
        },
      });
      await waitForReady(client, PLURAL, ns, 'dc', 'Issued');
      // the live refresh token stays in the operator's state Secret, never in the target
      const live = async () => (await privateCredential(client, PLURAL, ns, 'dc'))?.refresh_token;
      const first: Record<string, string | undefined> = { ...(await getSecretData(client, ns, 'dc-token')), refresh_token: await live() };
      expect((await getSecretData(client, ns, 'dc-token'))?.refresh_token).toBeUndefined();
      // the issuer is the container's mapped address: discovery went through the port mapping
      expect(realm.issuerUrl.startsWith(keycloakUrl)).toBe(true);
      expect(await introspect(realm, first.access_token!)).toMatchObject({ active: true, azp: realm.publicClientId });
      expect(await refreshTokenActive(realm, seed)).toBe(false); // spent by the first refresh (rotation is on)

      await requestRotation(client, PLURAL, ns, 'dc', 'container-1');
      await waitForReady(client, PLURAL, ns, 'dc', 'Rotated', 2);
      const second: Record<string, string | undefined> = { ...(await getSecretData(client, ns, 'dc-token')), refresh_token: await live() };
      expect(second.access_token).not.toBe(first.access_token);
      expect((await introspect(realm, second.access_token!)).active).toBe(true);
      expect(await refreshTokenActive(realm, first.refresh_token)).toBe(false);
      expect(await refreshTokenActive(realm, second.refresh_token)).toBe(true);

      await deleteResource(client, PLURAL, ns, 'dc');
      await waitFor('dc gone', async () => (await getResource(client, PLURAL, ns, 'dc')) === undefined);
      expect(await refreshTokenActive(realm, second.refresh_token)).toBe(false);
      expect((await introspect(realm, second.access_token!)).active).toBe(false);
      expect(await getSecretData(client, ns, 'dc-token')).toBeUndefined();
    });
  });

  describe('the operator image', () => {
    let ns: string;
    let dir: string;
    let operator: StartedTestContainer | undefined;
    let healthPort: number;
    let logs = '';

    beforeAll(async () => {
      ns = await createNamespace(client, 'ctr-image');
      dir = mkdtempSync(join(tmpdir(), 'token-operator-ctr-'));
      writeExecKubeconfig(inject('kubeconfigPath'), dir, '/kube');
      healthPort = await freePort();
      operator = await new ReadOnlyRootContainer(IMAGES.operator)
        .withReadOnlyRootFilesystem()
        .withPullPolicy(PullPolicy.neverPull())
        // the API server, Keycloak's and the simulators' mapped ports all listen on this host's 127.0.0.1
        .withNetworkMode('host')
        .withDroppedCapabilities('ALL')
        .withSecurityOpt('no-new-privileges')
        .withBindMounts([{ source: dir, target: '/kube', mode: 'ro' }])
        .withEnvironment({
          KUBECONFIG: '/kube/config',
          TOKEN_OPERATOR_HEALTH_PORT: String(healthPort),
          TOKEN_OPERATOR_HEALTH_HOST: '127.0.0.1',
          TOKEN_OPERATOR_LEADER_ELECT: 'false',
          TOKEN_OPERATOR_LEASE_NAMESPACE: ns,
          TOKEN_OPERATOR_WATCH_NAMESPACES: ns,
          TOKEN_OPERATOR_ALLOW_INSECURE_HTTP: 'true',
          // the simulators and Keycloak listen on this host's loopback (local development only)
          TOKEN_OPERATOR_ALLOW_LOOPBACK_EGRESS: 'true',
        })
        .withLogConsumer((stream) => stream.on('data', (d: Buffer | string) => (logs += d.toString())))
        .withWaitStrategy(Wait.forLogMessage('controllers started'))
        .start();
    }, 120_000);

    afterAll(async () => {
      if (process.env.DUMP_LOGS) writeFileSync(process.env.DUMP_LOGS, logs);
      await operator?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('runs as uid 65532 with no capabilities on a read-only root file system, and serves /readyz and /metrics', async () => {
      // what the kernel enforces on the operator process, read from the host's /proc
      const pid = await containerPid(operator!.getId());
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(status).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
      expect(status).toMatch(/^CapEff:\s+0+$/m);
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/');
      expect(root?.split(' ')[5]?.split(',')).toContain('ro');
      await waitFor('/readyz 200', async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok);
      const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      expect(metrics).toContain('token_operator_');
    });

    it('reconciles every kind to Ready against the simulators and Keycloak containers; logs are JSON without credentials', async () => {
      const realm = await provisionRealm({ baseUrl: keycloakUrl });
      const secrets = await expectEveryKindWorks(client, ns, await createEveryKind(client, ns, sim, realm), realm);
      expectCleanJsonLogs(logs, secrets);
    }, 300_000);
  });
});
