/**
 * A workload that uses a token-operator Secret, run inside consumer pods by the Node of the
 * operator's image (`node consumer.ts`: type stripping, no dependencies, no imports outside
 * node:). It reads the credential the way a pod gets it, calls the provider with it every
 * 200 ms, and reports every call to the test's collector.
 *
 * MODE=volume: the Secret is mounted at /creds and the file is read at every call, so the
 * call uses whatever the kubelet last wrote. MODE=env: envFrom, fixed for the pod's life.
 * KIND=dds: GET {endpoint}/shares with the bearerToken (the Delta Sharing server);
 * oidc: GET USERINFO_URL with the access_token (Keycloak); gnap: GET RESOURCE_URL with
 * `GNAP {access_token}`; data: the data must equal EXPECTED.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const env = process.env;
const name = env.CONSUMER ?? 'consumer';
const pod = env.HOSTNAME ?? 'unknown';
const mode = env.MODE ?? 'volume';
const kind = env.KIND ?? '';
const INTERVAL_MS = 200;

function credential(key: string): string {
  if (mode === 'volume') {
    try {
      return readFileSync(`/creds/${key}`, 'utf8');
    } catch {
      return '';
    }
  }
  return env[key] ?? '';
}

const hash = (v: string) => createHash('sha256').update(v).digest('hex').slice(0, 12);

async function get(url: string, authorization: string): Promise<number> {
  try {
    const res = await fetch(url, { headers: { authorization }, signal: AbortSignal.timeout(3000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0; // no answer: a failed request, as it would be for the application
  }
}

async function call(): Promise<{ ok: boolean; status: number; h: string }> {
  switch (kind) {
    case 'dds': {
      const token = credential('bearerToken');
      const status = await get(`${credential('endpoint').replace(/\/+$/, '')}/shares`, `Bearer ${token}`);
      return { ok: status === 200, status, h: hash(token) };
    }
    case 'oidc': {
      const token = credential('access_token');
      const status = await get(env.USERINFO_URL ?? '', `Bearer ${token}`);
      return { ok: status === 200, status, h: hash(token) };
    }
    case 'gnap': {
      const token = credential('access_token');
      const status = await get(env.RESOURCE_URL ?? '', `GNAP ${token}`);
      return { ok: status === 200, status, h: hash(token) };
    }
    case 'data': {
      const data = credential('data');
      return { ok: data !== '' && data === env.EXPECTED, status: 0, h: hash(data) };
    }
    default:
      throw new Error(`unknown KIND ${kind}`);
  }
}

let pending: Array<Record<string, unknown>> = [];

async function flush(): Promise<void> {
  if (pending.length === 0) return;
  const batch = pending;
  pending = [];
  try {
    const res = await fetch(env.COLLECTOR ?? '', { method: 'POST', body: JSON.stringify(batch), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(3000) });
    if (!res.ok) pending.unshift(...batch);
  } catch {
    pending.unshift(...batch); // the collector was busy: keep the reports for the next flush
  }
}

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

const flusher = setInterval(() => void flush(), 500);
while (!stopping) {
  const at = Date.now();
  const r = await call();
  pending.push({ c: name, pod, at, ...r });
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, INTERVAL_MS - (Date.now() - at))));
}
clearInterval(flusher);
await flush();
process.exit(0);
