/**
 * A real Keycloak for integration tests (the DataChain case, see
 * ../../../shared/research/providers.md §2 and ../../../shared/design/TESTING.md).
 *
 * - `keycloakAvailable()` at collection time: a one-line skip reason, or undefined.
 * - `ensureKeycloak()` in beforeAll: reuses the Keycloak on KEYCLOAK_URL when it answers,
 *   otherwise starts one with scripts/keycloak.sh, which later test files then reuse.
 * - `keycloakTeardownForRun()` in the integration globalSetup: stops that Keycloak at
 *   the end of the run (unless KEYCLOAK_KEEP=1), and never one that was already running.
 * - `provisionRealm()` per test file: a fresh realm with DataChain's settings.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import KcAdminClient from '@keycloak/keycloak-admin-client';
import type RealmRepresentation from '@keycloak/keycloak-admin-client/lib/defs/realmRepresentation.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = `${ROOT}scripts/keycloak.sh`;
const DEFAULT_PORT = 18180;
// a cold start on a busy 2-core machine, including the one-off re-augmentation
const START_TIMEOUT_MS = 420_000;

export function keycloakUrl(): string {
  return (process.env.KEYCLOAK_URL ?? `http://127.0.0.1:${process.env.KEYCLOAK_PORT ?? DEFAULT_PORT}`).replace(/\/$/, '');
}

/** The port the script should use: KEYCLOAK_URL's when it points at this machine. */
function localPort(url: string): number | undefined {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') return undefined;
  return u.port ? Number(u.port) : 80;
}

function scriptEnv(url: string): NodeJS.ProcessEnv {
  return { ...process.env, KEYCLOAK_PORT: String(localPort(url) ?? DEFAULT_PORT) };
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/realms/master`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

function lastLine(e: unknown): string {
  const out = e as { stdout?: string; stderr?: string; message?: string };
  const text = `${out.stderr ?? ''}\n${out.stdout ?? ''}`.trim() || (out.message ?? String(e));
  return text.split('\n').filter(Boolean).pop() ?? 'unknown error';
}

let availability: Promise<string | undefined> | undefined;

/**
 * Why Keycloak cannot run here (one line, for a test skip), or undefined when it can.
 * Installs the dist if needed (cached under .cache/). With REQUIRE_KEYCLOAK_TESTS=1 an
 * unavailable Keycloak throws instead, so CI cannot skip silently.
 */
export async function keycloakAvailable(): Promise<string | undefined> {
  availability ??= (async () => {
    const url = keycloakUrl();
    if (await answers(url)) return undefined;
    if (localPort(url) === undefined) return `KEYCLOAK_URL ${url} does not answer`;
    try {
      await run('bash', [SCRIPT, 'check'], { env: scriptEnv(url) });
    } catch (e) {
      return lastLine(e);
    }
    try {
      await run('bash', [SCRIPT, 'install'], { env: scriptEnv(url), timeout: 600_000 });
    } catch (e) {
      return `cannot install Keycloak: ${lastLine(e)}`;
    }
    return undefined;
  })();
  const reason = await availability;
  if (reason && process.env.REQUIRE_KEYCLOAK_TESTS === '1') {
    throw new Error(`Keycloak is required (REQUIRE_KEYCLOAK_TESTS=1) but unavailable: ${reason}`);
  }
  return reason;
}

let running: Promise<string> | undefined;

/** The base URL of a Keycloak that answers, starting one if none does. */
export function ensureKeycloak(): Promise<string> {
  running ??= (async () => {
    const url = keycloakUrl();
    if (await answers(url)) return url;
    if (localPort(url) === undefined) throw new Error(`KEYCLOAK_URL ${url} does not answer`);
    try {
      const { stdout } = await run('bash', [SCRIPT, 'start'], { env: scriptEnv(url), timeout: START_TIMEOUT_MS });
      console.log(stdout.trim());
    } catch (e) {
      running = undefined;
      throw new Error(`could not start Keycloak: ${lastLine(e)}`);
    }
    return url;
  })();
  return running;
}

/**
 * For the integration globalSetup: call at setup, return the result as (or from) the
 * teardown. Stops the Keycloak that ensureKeycloak started during this run, found by its
 * pid file being newer than the setup; an instance that was already up is left alone.
 */
export function keycloakTeardownForRun(): () => Promise<void> {
  const setupAtMs = Date.now();
  const url = keycloakUrl();
  const port = localPort(url);
  return async () => {
    if (port === undefined || process.env.KEYCLOAK_KEEP === '1') return;
    const pidFile = `${ROOT}.cache/keycloak/keycloak-${port}.pid`;
    const started = await stat(pidFile).then(
      (s) => s.mtimeMs >= setupAtMs,
      () => false,
    );
    if (started) await run('bash', [SCRIPT, 'stop'], { env: scriptEnv(url), timeout: 60_000 });
  };
}

export interface KeycloakRealm {
  baseUrl: string;
  name: string;
  issuerUrl: string;
  tokenUrl: string;
  revocationUrl: string;
  introspectionUrl: string;
  /** like DataChain's `pydc`: public, so no secret */
  publicClientId: string;
  confidentialClientId: string;
  confidentialClientSecret: string;
  username: string;
  password: string;
  /** an admin client logged in afresh, pointed at this realm */
  admin(): Promise<KcAdminClient>;
  /** deletes the realm (and every session in it) */
  delete(): Promise<void>;
}

export interface ProvisionOptions {
  /** realm settings on top of the DataChain-like defaults below */
  realm?: RealmRepresentation;
  /** a Keycloak that already answers (e.g. a container's mapped address); default ensureKeycloak() */
  baseUrl?: string;
}

export const KEYCLOAK_ADMIN = {
  username: process.env.KEYCLOAK_ADMIN_USERNAME ?? 'admin',
  password: process.env.KEYCLOAK_ADMIN_PASSWORD ?? 'admin',
};

// master's admin tokens live 60 s, so every admin action logs in afresh
async function admin(baseUrl: string): Promise<KcAdminClient> {
  const kc = new KcAdminClient({ baseUrl, realmName: 'master' });
  await kc.auth({ grantType: 'password', clientId: 'admin-cli', ...KEYCLOAK_ADMIN });
  return kc;
}

const random = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * A fresh realm shaped like DataChain's `dc-realm`: refresh tokens rotate and may be used
 * once (`revokeRefreshToken`, `refreshTokenMaxReuse: 0`), access tokens live 60 s; a
 * public client standing in for `pydc`, a confidential one, and a user with a password
 * and the `offline_access` role.
 */
export async function provisionRealm(opts: ProvisionOptions = {}): Promise<KeycloakRealm> {
  const baseUrl = opts.baseUrl ?? (await ensureKeycloak());
  const name = `dc-${random(4)}`;
  const kc = await admin(baseUrl);
  await kc.realms.create({
    realm: name,
    enabled: true,
    revokeRefreshToken: true,
    refreshTokenMaxReuse: 0,
    accessTokenLifespan: 60,
    ...opts.realm,
  });
  kc.setConfig({ realmName: name });

  const publicClientId = 'pydc';
  await kc.clients.create({
    clientId: publicClientId,
    enabled: true,
    publicClient: true,
    standardFlowEnabled: false,
    // only so seedToken() can mint the first token the way a person does in the UI
    directAccessGrantsEnabled: true,
  });
  const confidentialClientId = 'operator-confidential';
  const confidentialClientSecret = random(16);
  await kc.clients.create({
    clientId: confidentialClientId,
    enabled: true,
    publicClient: false,
    clientAuthenticatorType: 'client-secret',
    secret: confidentialClientSecret,
    standardFlowEnabled: false,
    directAccessGrantsEnabled: true,
    serviceAccountsEnabled: false,
  });

  const username = 'analyst';
  const password = random(12);
  // a complete profile, or Keycloak 26's user profile asks for it and refuses the grant
  const { id: userId } = await kc.users.create({
    username,
    enabled: true,
    email: `${username}@example.test`,
    emailVerified: true,
    firstName: 'Ana',
    lastName: 'Lyst',
    credentials: [{ type: 'password', value: password, temporary: false }],
  });
  const offline = await kc.roles.findOneByName({ name: 'offline_access' });
  if (!offline?.id || !offline.name) throw new Error(`realm ${name} has no offline_access role`);
  await kc.users.addRealmRoleMappings({ id: userId, roles: [{ id: offline.id, name: offline.name }] });

  const issuerUrl = `${baseUrl}/realms/${name}`;
  const oidc = `${issuerUrl}/protocol/openid-connect`;
  return {
    baseUrl,
    name,
    issuerUrl,
    tokenUrl: `${oidc}/token`,
    revocationUrl: `${oidc}/revoke`,
    introspectionUrl: `${oidc}/token/introspect`,
    publicClientId,
    confidentialClientId,
    confidentialClientSecret,
    username,
    password,
    async admin() {
      const kc2 = await admin(baseUrl);
      kc2.setConfig({ realmName: name });
      return kc2;
    },
    async delete() {
      const kc2 = await admin(baseUrl);
      await kc2.realms.del({ realm: name });
    },
  };
}

export interface SeedOptions {
  /** mint an offline token (`scope=openid offline_access`); default true */
  offline?: boolean;
  /** which client the token is issued to; default the public one */
  client?: 'public' | 'confidential';
}

export interface SeedTokens {
  refreshToken: string;
  accessToken: string;
  refreshExpiresIn: number;
}

/**
 * A refresh token minted with the user's password: what a person does in the DataChain
 * UI ("My account → Access Tokens", re-entering the password, ticking Offline).
 */
export async function seedToken(realm: KeycloakRealm, opts: SeedOptions = {}): Promise<SeedTokens> {
  const confidential = opts.client === 'confidential';
  const form = new URLSearchParams({
    grant_type: 'password',
    client_id: confidential ? realm.confidentialClientId : realm.publicClientId,
    username: realm.username,
    password: realm.password,
    scope: opts.offline === false ? 'openid' : 'openid offline_access',
  });
  if (confidential) form.set('client_secret', realm.confidentialClientSecret);
  const res = await fetch(realm.tokenUrl, { method: 'POST', body: form });
  const body = (await res.json()) as { refresh_token?: string; access_token?: string; refresh_expires_in?: number; error?: string; error_description?: string };
  if (!res.ok || !body.refresh_token || !body.access_token) {
    throw new Error(`seed token: HTTP ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
  }
  return { refreshToken: body.refresh_token, accessToken: body.access_token, refreshExpiresIn: body.refresh_expires_in ?? -1 };
}

export function seedOfflineToken(realm: KeycloakRealm, opts: Omit<SeedOptions, 'offline'> = {}): Promise<SeedTokens> {
  return seedToken(realm, { ...opts, offline: true });
}

export interface Introspection {
  active: boolean;
  typ?: string;
  client_id?: string;
  azp?: string;
  [claim: string]: unknown;
}

/** RFC 7662 with token_type_hint=refresh_token: a spent (rotated) refresh token reads inactive, without replaying it */
export async function refreshTokenActive(realm: KeycloakRealm, token: string | undefined): Promise<boolean> {
  const res = await fetch(realm.introspectionUrl, {
    method: 'POST',
    body: new URLSearchParams({
      token: token ?? '',
      token_type_hint: 'refresh_token',
      client_id: realm.confidentialClientId,
      client_secret: realm.confidentialClientSecret,
    }),
  });
  return ((await res.json()) as { active: boolean }).active;
}

/** RFC 7662 introspection with the confidential client (public clients may not introspect). */
export async function introspect(realm: KeycloakRealm, token: string): Promise<Introspection> {
  const res = await fetch(realm.introspectionUrl, {
    method: 'POST',
    body: new URLSearchParams({
      token,
      client_id: realm.confidentialClientId,
      client_secret: realm.confidentialClientSecret,
    }),
  });
  if (!res.ok) throw new Error(`introspect: HTTP ${res.status}`);
  return (await res.json()) as Introspection;
}

/**
 * What an administrator does to cut the user off (Admin Console → Users → the user →
 * Sessions "Sign out", and Consents "Revoke"): ends every online session of the user and
 * revokes the offline tokens (with the consent) each client holds. Every access and refresh
 * token of the user stops working; only a new login (a new token) helps.
 */
export async function endUserSessions(realm: KeycloakRealm): Promise<void> {
  const kc = await realm.admin();
  const [user] = await kc.users.find({ username: realm.username, exact: true });
  if (!user?.id) throw new Error(`realm ${realm.name} has no user ${realm.username}`);
  await kc.users.logout({ id: user.id });
  for (const clientId of [realm.publicClientId, realm.confidentialClientId]) {
    // 404 when the user holds no consent or offline token for that client
    await kc.users.revokeConsent({ id: user.id, clientId }, { catchNotFound: true });
  }
}
