/**
 * spec.target.template (issue #20) on the real API server, per kind: the target Secret holds the
 * templated keys, rendered from the credential's own fields, which stay in the operator's state
 * Secret; a rotation renders the new credential (and restarts a consumer reading the Secret
 * through envFrom); drift repair renders again from the state Secret with no provider call; a
 * template change is one Secret write, then steady state writes nothing; a template that fails
 * at run time stalls with TemplateInvalid, naming the key and the field, and leaves the Secret
 * as it was; admission refuses an unknown field, naming it; and a one-time credential issued
 * while the template cannot render is kept in the state Secret and written once it can, without
 * minting again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEMPLATE_FIELDS } from '../../src/api/index.js';
import { KubeApiError, type KubeClient, type KubeObject } from '../../src/runtime/kube-client.js';
import { ManualClock } from '../../src/schedule/clock.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import { ddsFixture, gnapFixture, profileStatus } from '../support/fixtures.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  crPath,
  getResource,
  getSecretData,
  RequestCounter,
  requestRotation,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';

let client: KubeClient;
let dds: DdsSimulator;
let gnap: GnapSimulator;
let privicore: PrivicoreSimulator;
let op: TestOperator;
let ns: string;
const clock = new ManualClock('2026-11-23T10:00:00Z');
const requests = new RequestCounter();
const DEBOUNCE_MS = 1000;

type Template = { mergePolicy?: 'Replace' | 'Merge'; type?: string; data: Record<string, string>; labels?: Record<string, string>; annotations?: Record<string, string> };
type Raw = Record<string, string>;

interface Case {
  plural: string;
  /** creates the resource `name` writing `${name}-out` with this template */
  create(name: string, template: Template): Promise<void>;
  /** requests that reached the provider */
  calls(): number;
  template: Template;
  /** what the Secret must hold for these credential fields (the state Secret's copy) */
  expected(raw: Raw): Record<string, string>;
  /** the field the rotation must change */
  changes: string;
  /** a template the API server admits that cannot render: the key and the field the message must name */
  bad: { template: Template; where: string; field: string };
  /** the credential in the Secret works at the provider */
  works?(data: Record<string, string>): Promise<boolean>;
}

const cases: Record<string, Case> = {
  DeltaShareToken: {
    plural: 'deltasharetokens',
    async create(name, template) {
      await createResource(client, 'deltasharetokens', await ddsFixture(client, dds, name, { namespace: ns, spec: { verify: false, liveness: NO_LIVENESS, target: target(name, template) } }));
    },
    calls: () => dds.state.log.length,
    template: {
      data: { DELTA_SHARING_TOKEN: '{{bearerToken}}', 'profile.share': '{{{config.share}}}', authorization: 'Bearer {{bearerToken}}' },
      labels: { 'example.com/shaped': 'yes' },
      annotations: { 'example.com/expires': '{{expirationTime}}' },
    },
    expected: (raw) => ({ DELTA_SHARING_TOKEN: raw.bearerToken!, 'profile.share': raw['config.share']!, authorization: `Bearer ${raw.bearerToken}` }),
    changes: 'bearerToken',
    bad: { template: { data: { t: '{{bearerToken}}' }, labels: { 'example.com/expires': '{{expirationTime}}' } }, where: 'labels["example.com/expires"]', field: 'expirationTime' },
    works: async (data) => (await profileStatus(data['profile.share']!)) === 200,
  },
  'AccessToken (gnap)': {
    plural: 'accesstokens',
    async create(name, template) {
      await createResource(client, 'accesstokens', (await gnapFixture(client, gnap, name, { namespace: ns, spec: { liveness: NO_LIVENESS, target: target(name, template) } })).obj);
    },
    calls: () => gnap.state.requests.filter((q) => q.path !== '/resource').length,
    template: {
      data: {
        ACCESS_TOKEN: '{{access_token}}',
        authorization: 'GNAP {{access_token}}',
        'client.json': '{"token": {{#json}}{{access_token}}{{/json}}, "expires": {{#json}}{{expires_at}}{{/json}}}',
      },
      annotations: { 'example.com/expires': '{{expires_at}}' },
    },
    expected: (raw) => ({
      ACCESS_TOKEN: raw.access_token!,
      authorization: `GNAP ${raw.access_token}`,
      'client.json': `{"token": ${JSON.stringify(raw.access_token)}, "expires": ${JSON.stringify(raw.expires_at)}}`,
    }),
    changes: 'access_token',
    bad: { template: { data: { t: '{{#base64Decode}}{{access}}{{/base64Decode}}' } }, where: 'data["t"]', field: 'access' },
    works: async (data) => (await fetch(`${gnap.url}/resource`, { headers: { authorization: data.authorization! } })).status === 200,
  },
  'DataToken (source, Merge)': {
    plural: 'datatokens',
    async create(name, template) {
      await createSecret(client, ns, `${name}-in`, { 'key.pem': `payload of ${name}` });
      await createResource(client, 'datatokens', {
        apiVersion: 'token-operator.io/v1alpha1',
        kind: 'DataToken',
        metadata: { name, namespace: ns },
        spec: {
          privicore: { apiUrl: privicore.url, profileSecretRef: { name: 'privicore-profile' }, allowInsecureHttp: true },
          source: { secretKeyRef: { name: `${name}-in`, key: 'key.pem' }, context: 'analytics.reports' },
          target: target(name, template),
          liveness: NO_LIVENESS,
        },
      });
    },
    calls: () => Object.values(privicore.state.calls).reduce((a, b) => a + b, 0),
    template: {
      mergePolicy: 'Merge',
      data: { REPORT_TOKEN: '{{data_token}}', 'token.b64': '{{#base64}}{{data_token}}{{/base64}}', context: '{{#upper}}{{context}}{{/upper}}' },
      labels: { 'example.com/context': '{{context}}' },
    },
    expected: (raw) => ({ data_token: raw.data_token!, context: raw.context!.toUpperCase(), REPORT_TOKEN: raw.data_token!, 'token.b64': Buffer.from(raw.data_token!).toString('base64') }),
    changes: 'data_token',
    bad: { template: { data: { t: '{{#base64Decode}}{{context}}{{/base64Decode}}' } }, where: 'data["t"]', field: 'context' },
  },
};

/** the resource `name` writes `${name}-out`; a Deployment `${name}-app`, where one exists, is restarted on rotations */
/**
 * This file counts provider calls to show that templates render without calling the provider.
 * Liveness checks would add calls whenever the test clock jumps past a resource's phase point
 * (a hash of its uid, so in some runs only); they are tested, templated targets included, in
 * liveness.test.ts.
 */
const NO_LIVENESS = { enabled: false };

function target(name: string, template: Template) {
  return { secretName: `${name}-out`, template, ...(name.endsWith('-late') ? {} : { rolloutRestart: [{ kind: 'Deployment', name: `${name}-app` }] }) };
}

const secretPath = (name: string) => `/api/v1/namespaces/${ns}/secrets/${name}`;
/** replaces the whole template (a merge patch would merge the old template's maps into the new one) */
const setTemplate = (plural: string, name: string, template: Template) =>
  client.patch(crPath(plural, ns, name), [{ op: 'replace', path: '/spec/target/template', value: template }], 'json');
type Status = { revision?: number; driftRepairs?: number; lastRestartedRevision?: number };
const statusOf = (r: KubeObject | undefined) => (r?.status ?? {}) as Status;

/** every credential value seen (the fields each kind marks secret): none may reach a log line or an event */
const secretsSeen = new Set<string>();

/** the credential's own fields, as the operator keeps them in its state Secret */
async function rawOf(plural: string, name: string): Promise<Raw> {
  const r = (await getResource(client, plural, ns, name))!;
  const text = (await getSecretData(client, ns, `token-operator-state-${r.metadata!.uid!}`))?.['state.json'];
  const raw = (JSON.parse(text!) as { data: Raw }).data;
  for (const [f, v] of Object.entries(raw)) if (TEMPLATE_FIELDS[r.kind!]?.[f]?.secret) secretsSeen.add(v);
  return raw;
}

/** a consumer reading every key as an environment variable */
async function envFromApp(name: string, secret: string): Promise<void> {
  await client.create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1', envFrom: [{ secretRef: { name: secret } }] }] } },
    },
  });
}
const restartedFor = async (name: string) =>
  (await client.get<KubeObject & { spec: { template: { metadata?: { annotations?: Record<string, string> } } } }>(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`)).spec.template.metadata
    ?.annotations?.['token-operator.io/secret-revision'];

beforeAll(async () => {
  client = adminClient();
  dds = await startDdsSimulator({ clock });
  gnap = await startGnapSimulator({ clock });
  privicore = await startPrivicoreSimulator({ clock, commandDelayMs: 20 });
  privicore.addProfile('ops', 'ops-pw');
  ns = await createNamespace(client, 'templates');
  await createSecret(client, ns, 'privicore-profile', { username: 'ops', password: 'ops-pw' });
  op = await startTestOperator({ watchNamespaces: [ns], rolloutDebounceSeconds: DEBOUNCE_MS / 1000 }, { clock, onKubeRequest: requests.on });
});

afterAll(async () => {
  if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
  await op?.stop();
  await Promise.all([dds?.close(), gnap?.close(), privicore?.close()]);
});

describe.each(Object.entries(cases))('%s with a target template', (_kind, c) => {
  const name = `${c.plural.slice(0, 3)}-tpl`;
  const out = `${name}-out`;
  const get = () => getResource(client, c.plural, ns, name);
  const settle = (ms = 1500) => new Promise((r) => setTimeout(r, ms));
  const holds = (want: Record<string, string>) =>
    waitFor(`${out} holds the templated keys`, async () => {
      const data = await getSecretData(client, ns, out);
      return data && JSON.stringify(Object.entries(data).sort()) === JSON.stringify(Object.entries(want).sort()) ? data : undefined;
    });

  it('writes the templated keys rendered from the fields kept in the state Secret, and lists them as written', async () => {
    await envFromApp(`${name}-app`, out);
    await c.create(name, c.template);
    const r = await waitFor(`${name} Ready`, async () => {
      const x = await get();
      return condition(x, 'Ready')?.status === 'True' ? x : undefined;
    });
    const raw = await rawOf(c.plural, name);
    expect(raw[c.changes]).toBeTruthy();
    const data = await holds(c.expected(raw));
    if (c.template.mergePolicy !== 'Merge') for (const k of Object.keys(raw)) expect(data[k], `default key ${k} is not in the Secret`).toBeUndefined();
    const secret = await client.get(secretPath(out));
    const written = JSON.parse(secret.metadata!.annotations!['token-operator.io/written-keys']!) as { data: string[] };
    expect(written.data).toEqual(Object.keys(c.expected(raw)).sort());
    expect(secret.metadata?.annotations?.['token-operator.io/template']).toMatch(/^sha256:/);
    for (const [k, v] of Object.entries(c.template.annotations ?? {})) expect(secret.metadata?.annotations?.[k]).toBe(v.replace(/\{\{(\w+)\}\}/, (_m, f: string) => raw[f]!));
    for (const k of Object.keys(c.template.labels ?? {})) expect(secret.metadata?.labels?.[k]).toBeTruthy();
    if (c.works) expect(await c.works(data)).toBe(true);
    // no value of the credential in status
    const statusText = JSON.stringify(r.status);
    for (const k of Object.keys(raw).filter((f) => f !== 'context' && f !== 'data_token' && f !== 'expires_at' && f !== 'expirationTime' && f !== 'endpoint')) {
      expect(statusText).not.toContain(raw[k]);
    }
  });

  it('a rotation renders the new credential, and restarts the consumer reading it through envFrom', async () => {
    clock.advance(2 * 3_600_000); // past the DDS overlap: two live tokens at most
    const before = await rawOf(c.plural, name);
    const revision = statusOf(await get()).revision!;
    await requestRotation(client, c.plural, ns, name, 'templated-rotation');
    await waitFor(`${name} revision ${revision + 1}`, async () => statusOf(await get()).revision === revision + 1);
    const raw = await rawOf(c.plural, name);
    expect(raw[c.changes]).not.toBe(before[c.changes]);
    const data = await holds(c.expected(raw));
    expect(JSON.stringify(data)).not.toContain(before[c.changes]!);
    if (c.works) expect(await c.works(data)).toBe(true);
    clock.advance(DEBOUNCE_MS);
    op.enqueueAll();
    await waitFor(`${name}-app restarted for revision ${revision + 1}`, async () => (await restartedFor(`${name}-app`)) === `${out}@${revision + 1}`);
  });

  it('steady state: no API write and no provider call', async () => {
    await settle();
    requests.reset();
    const calls = c.calls();
    op.enqueueAll();
    op.enqueueAll();
    await settle();
    expect(requests.writes()).toBe(0);
    expect(c.calls()).toBe(calls);
  });

  it('drift repair renders again from the state Secret: an edited key and a deleted Secret, no provider call', async () => {
    const calls = c.calls();
    const want = c.expected(await rawOf(c.plural, name));
    const first = Object.keys(c.template.data)[0]!;
    await client.patch(secretPath(out), { data: { [first]: Buffer.from('tampered').toString('base64') } }, 'merge');
    await holds(want);
    await waitFor('repair counted', async () => statusOf(await get()).driftRepairs === 1);
    await client.delete(secretPath(out));
    await holds(want);
    await waitFor('second repair counted', async () => statusOf(await get()).driftRepairs === 2);
    expect(c.calls()).toBe(calls);
    expect(condition(await get(), 'Ready')?.status).toBe('True');
  });

  it('a template change is one Secret write, with no provider call, then steady', async () => {
    await settle();
    const calls = c.calls();
    const revision = statusOf(await get()).revision;
    requests.reset();
    const changed: Template = { ...c.template, data: { ...c.template.data, EXTRA: 'x-{{#upper}}static{{/upper}}' } };
    await setTemplate(c.plural, name, changed);
    const raw = await rawOf(c.plural, name);
    await holds({ ...c.expected(raw), EXTRA: 'x-STATIC' });
    await settle();
    expect((requests.counts.get('patch secrets') ?? 0) + (requests.counts.get('create secrets') ?? 0) + (requests.counts.get('update secrets') ?? 0)).toBe(1);
    expect(c.calls()).toBe(calls);
    expect(statusOf(await get()).revision).toBe(revision);
    requests.reset();
    op.enqueueAll();
    await settle();
    expect(requests.writes()).toBe(0);
  });

  it('a template that fails at run time: Stalled TemplateInvalid naming the key and the field, the Secret left as it was', async () => {
    const calls = c.calls();
    const before = await client.get(secretPath(out));
    await setTemplate(c.plural, name, c.bad.template);
    const r = await waitFor(`${name} TemplateInvalid`, async () => {
      const x = await get();
      return condition(x, 'Stalled')?.reason === 'TemplateInvalid' ? x : undefined;
    });
    const stalled = condition(r, 'Stalled')!;
    expect(stalled.status).toBe('True');
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'TemplateInvalid' });
    expect(stalled.message).toContain(`spec.target.template.${c.bad.where}`);
    expect(stalled.message).toContain(c.bad.field);
    const raw = await rawOf(c.plural, name);
    for (const k of Object.keys(raw).filter((f) => f !== 'context' && f !== 'expires_at' && f !== 'expirationTime' && f !== 'endpoint' && f !== 'access')) {
      expect(stalled.message).not.toContain(raw[k]);
    }
    await settle();
    expect((await client.get(secretPath(out))).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(c.calls()).toBe(calls);
    // fixed: the Secret is shaped again, still without a provider call
    await setTemplate(c.plural, name, c.template);
    await holds(c.expected(raw));
    await waitFor(`${name} Ready again`, async () => condition(await get(), 'Ready')?.status === 'True');
    expect(c.calls()).toBe(calls);
  });

  it('admission refuses a template naming a field the kind does not have, naming the key and the tag', async () => {
    const e = await setTemplate(c.plural, name, { data: { MY_TOKEN: 'Bearer {{token}}' } }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(KubeApiError);
    expect((e as KubeApiError).status).toBe(422);
    expect((e as KubeApiError).message).toContain('spec.target.template.data[MY_TOKEN]');
    expect((e as KubeApiError).message).toContain('unknown field at "{{token}}"');
  });

  it('one-time credential first: issued while the template cannot render, it waits in the state Secret and is written once the template is fixed, with no second issue', async () => {
    const late = `${name}-late`;
    await c.create(late, c.bad.template);
    const r = await waitFor(`${late} TemplateInvalid`, async () => {
      const x = await getResource(client, c.plural, ns, late);
      return condition(x, 'Stalled')?.reason === 'TemplateInvalid' ? x : undefined;
    });
    expect(condition(r, 'Stalled')?.message).toContain(c.bad.field);
    const raw = await rawOf(c.plural, late);
    expect(raw[c.changes]).toBeTruthy();
    expect(await client.find(secretPath(`${late}-out`))).toBeUndefined();
    const calls = c.calls();
    await setTemplate(c.plural, late, c.template);
    const written = await waitFor(`${late}-out written`, async () => {
      const data = await getSecretData(client, ns, `${late}-out`);
      return data && JSON.stringify(Object.entries(data).sort()) === JSON.stringify(Object.entries(c.expected(raw)).sort()) ? data : undefined;
    });
    await waitFor(`${late} Ready`, async () => condition(await getResource(client, c.plural, ns, late), 'Ready')?.status === 'True');
    expect(c.calls()).toBe(calls);
    if (c.works) expect(await c.works(written)).toBe(true);
  });
});

describe('the Secret type a template sets', () => {
  const name = 'typed';
  const basicAuth: Template = { type: 'kubernetes.io/basic-auth', data: { username: 'reports', password: '{{data_token}}' } };
  const calls = () => cases['DataToken (source, Merge)']!.calls();

  it('is set when the operator creates the Secret; another type later stalls until the Secret is deleted, then it is created again from the state Secret', async () => {
    await cases['DataToken (source, Merge)']!.create(name, basicAuth);
    const out = `${name}-out`;
    const created = await waitFor(`${out} created`, () => client.find(secretPath(out)));
    expect((created as { type?: string }).type).toBe('kubernetes.io/basic-auth');
    const raw = await rawOf('datatokens', name);
    expect(await getSecretData(client, ns, out)).toEqual({ username: 'reports', password: raw.data_token });
    await waitFor(`${name} Ready`, async () => condition(await getResource(client, 'datatokens', ns, name), 'Ready')?.status === 'True');
    const before = calls();

    await setTemplate('datatokens', name, { ...basicAuth, type: 'example.com/data-token' });
    const r = await waitFor(`${name} TemplateInvalid`, async () => {
      const x = await getResource(client, 'datatokens', ns, name);
      return condition(x, 'Stalled')?.reason === 'TemplateInvalid' ? x : undefined;
    });
    expect(condition(r, 'Stalled')?.message).toContain(`Secret "${out}" has type kubernetes.io/basic-auth and spec.target.template asks for example.com/data-token`);
    expect(condition(r, 'Stalled')?.message).toContain('Delete the Secret');
    expect((await client.get(secretPath(out))).metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);

    await client.delete(secretPath(out));
    clock.advance(61_000); // the first refusal's back-off
    op.enqueueAll();
    const again = await waitFor(`${out} created again with the new type`, async () => {
      const x = await client.find(secretPath(out));
      return (x as { type?: string } | undefined)?.type === 'example.com/data-token' ? x : undefined;
    });
    expect(await getSecretData(client, ns, out)).toEqual({ username: 'reports', password: raw.data_token });
    expect(again.metadata?.annotations?.['token-operator.io/revision']).toBe(String(statusOf(r).revision));
    await waitFor(`${name} Ready again`, async () => condition(await getResource(client, 'datatokens', ns, name), 'Ready')?.status === 'True');
    expect(calls()).toBe(before);
  });
});

describe('secrets stay secret', () => {
  it('no credential value in the operator\'s logs or in the events of the namespace', async () => {
    expect(secretsSeen.size).toBeGreaterThan(5);
    const events = JSON.stringify((await client.list<KubeObject>(`/api/v1/namespaces/${ns}/events`)).items);
    for (const v of secretsSeen) {
      expect(op.logs.text.includes(v), 'a credential in the logs').toBe(false);
      expect(events.includes(v), 'a credential in an event').toBe(false);
    }
    expect(events).toContain('TemplateInvalid');
    expect(events).toContain('TemplateApplied');
  });
});
