import { z } from 'zod';
import { GROUP, KINDS, VERSION, type KindDefinition } from '../src/api/index.js';

type Json = { [k: string]: unknown };

/**
 * Converts a zod schema to a structural OpenAPI v3 schema the API server accepts:
 * no $schema/additionalProperties:false noise, no safe-integer bounds, maps as
 * additionalProperties, every field with a description.
 */
export function toStructural(schema: z.ZodType): Json {
  const raw = z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'throw' }) as Json;
  return clean(raw) as Json;
}

function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === '$schema' || k === 'propertyNames') continue;
    if (k === 'additionalProperties' && v === false) continue;
    if ((k === 'minimum' || k === 'maximum') && Math.abs(v as number) >= Number.MAX_SAFE_INTEGER) continue;
    if (k === 'x-kubernetes-validations' || k === 'x-kubernetes-list-map-keys') {
      out[k] = v;
      continue;
    }
    out[k] = clean(v);
  }
  if (out.type === 'object' && out.properties && out.required === undefined) delete out.required;
  return out;
}

export function crdFor(def: KindDefinition): Json {
  const spec = toStructural(def.spec);
  const status = toStructural(def.status);
  const readyJsonPath = '.status.conditions[?(@.type=="Ready")]';
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'token-operator', 'app.kubernetes.io/part-of': 'token-operator' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: ['tokens', 'token-operator'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: `${readyJsonPath}.status` },
            { name: 'Reason', type: 'string', jsonPath: `${readyJsonPath}.reason` },
            // future instants: kubectl renders `date` columns as ages, so show the timestamp
            { name: 'Expires', type: 'string', jsonPath: '.status.expirationTime' },
            { name: 'Next Rotation', type: 'string', jsonPath: '.status.nextRotationTime' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${def.kind} (${GROUP}/${VERSION}); see https://github.com/token-operator/token-operator.`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: 'API version of this object.' },
                kind: { type: 'string', description: 'Kind of this object.' },
                metadata: { type: 'object' },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}

export const crds = (): Json[] => KINDS.map((k) => crdFor(k));
