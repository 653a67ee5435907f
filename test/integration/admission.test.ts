/**
 * Admission: the generated CRDs, installed in the real kube-apiserver, refuse every manifest
 * in the invalid corpus with a message that names the offending field, and accept the valid
 * ones. Sent with fieldValidation=Strict, as kubectl does, so unknown fields are errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, type KubeClient, type KubeObject } from '../../src/runtime/kube-client.js';
import { adminClient, createNamespace, crPath } from '../support/harness.js';
import { INVALID, PLURALS, VALID, type InvalidCase, type ValidCase } from './admission-cases.js';

let client: KubeClient;
let ns: string;
const outcome = { rejected: 0, wronglyAccepted: [] as string[], accepted: 0, wronglyRejected: [] as string[] };

beforeAll(async () => {
  client = adminClient();
  ns = await createNamespace(client, 'admission');
});

afterAll(async () => {
  console.log(
    `[admission] rejected ${outcome.rejected} of ${INVALID.length} invalid manifests; ` +
      `accepted ${outcome.accepted} of ${VALID.length} valid manifests` +
      (outcome.wronglyAccepted.length ? `; WRONGLY ACCEPTED: ${outcome.wronglyAccepted.join(', ')}` : '') +
      (outcome.wronglyRejected.length ? `; WRONGLY REJECTED: ${outcome.wronglyRejected.join(', ')}` : ''),
  );
  await client?.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

function withName(c: InvalidCase | ValidCase): KubeObject {
  const m = structuredClone(c.manifest) as KubeObject;
  m.metadata = { name: c.id, ...m.metadata, namespace: ns };
  return m;
}

async function send(c: InvalidCase | ValidCase): Promise<KubeObject> {
  return client.create(crPath(PLURALS[c.kind], ns), withName(c), { fieldValidation: 'Strict' });
}

describe('admission refuses invalid and malicious manifests', () => {
  it('has a corpus of at least 50 manifests over all three kinds', () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(50);
    for (const kind of Object.keys(PLURALS)) expect(INVALID.filter((c) => c.kind === kind).length).toBeGreaterThanOrEqual(10);
    expect(new Set(INVALID.map((c) => c.id)).size).toBe(INVALID.length);
  });

  it.each(INVALID.map((c) => [`${c.id} ${c.kind}: ${c.why}`, c] as const))('%s', async (_title, c) => {
    let error: unknown;
    try {
      await send(c);
    } catch (e) {
      error = e;
    }
    if (!(error instanceof KubeApiError)) {
      outcome.wronglyAccepted.push(c.id);
      expect.fail(`${c.id} (${c.why}) was accepted; expected a refusal naming ${c.path}${error ? `; got ${String(error)}` : ''}`);
    }
    expect([400, 422], error.message).toContain(error.status);
    // The API server names fields as `path: …` (schema and CEL errors) or `unknown field "path"` (strict decoding).
    const named = error.message.includes(`${c.path}:`) || error.message.includes(`"${c.path}"`);
    expect(named, `message does not name ${c.path}: ${error.message}`).toBe(true);
    if (c.hint) expect(error.message).toContain(c.hint);
    outcome.rejected++;
  });
});

describe('admission accepts valid manifests', () => {
  it.each(VALID.map((c) => [`${c.id} ${c.kind}: ${c.why}`, c] as const))('%s', async (_title, c) => {
    try {
      const created = await send(c);
      expect(created.metadata?.uid).toBeTruthy();
      // What was sent is what is stored: nothing pruned.
      expect((created as { spec?: unknown }).spec).toEqual(c.manifest.spec);
      outcome.accepted++;
    } catch (e) {
      outcome.wronglyRejected.push(c.id);
      throw e;
    }
  });
});
