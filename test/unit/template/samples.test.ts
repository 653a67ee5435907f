import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { KINDS, TEMPLATE_FIELDS, type TargetTemplate } from '../../../src/api/index.js';
import { checkTemplate, shapeTarget } from '../../../src/template/shape.js';

/** deploy/samples: every token resource parses, and every template renders what its comment promises. */
const dir = join(import.meta.dirname, '..', '..', '..', 'deploy', 'samples');
type Doc = { kind: string; metadata: { name: string }; spec: { target: { template?: TargetTemplate } } };
const docs = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Doc))
  .filter((d) => KINDS.some((k) => k.kind === d.kind));
const templated = docs.filter((d) => d.spec.target.template);

describe('deploy/samples', () => {
  it.each(docs.map((d) => [`${d.kind} ${d.metadata.name}`, d] as const))('%s parses with its kind\'s schema', (_n, d) => {
    const r = KINDS.find((k) => k.kind === d.kind)!.spec.safeParse(d.spec);
    expect(r.success, r.success ? '' : JSON.stringify(r.error.issues)).toBe(true);
  });

  it('show the three common shapes: env vars, a config file, an Authorization header value', () => {
    const keys = templated.flatMap((d) => Object.keys(d.spec.target.template!.data));
    expect(keys).toEqual(expect.arrayContaining(['REPORT_DATA_TOKEN', 'client.json', 'authorization']));
  });

  it.each(templated.map((d) => [`${d.kind} ${d.metadata.name}`, d] as const))('%s renders', (_n, d) => {
    const offer = { kind: d.kind, fields: TEMPLATE_FIELDS[d.kind]!, spec: d.spec };
    checkTemplate(d.spec.target.template, offer);
    // label-safe stand-ins (a label value allows letters, digits, "-", "_", "."), and a quote to escape
    const values = Object.fromEntries(Object.keys(offer.fields).map((f) => [f, d.kind === 'DeltaShareToken' ? `"${f}"` : `value.of.${f}`]));
    const shaped = shapeTarget(d.spec.target.template, values, offer);
    for (const [key, text] of Object.entries(shaped.data)) if (key.endsWith('.json')) expect(() => JSON.parse(text), key).not.toThrow();
    if (d.metadata.name === 'zalando-dds-files') expect(JSON.parse(shaped.data['client.json']!)).toEqual({ endpoint: '"endpoint"', bearerToken: '"bearerToken"', expiresAt: '"expirationTime"' });
  });
});
