import type { z } from 'zod';
import { AccessTokenSpec, AccessTokenStatus, ACCESS_TOKEN, ACCESS_TOKEN_FIELDS } from './accesstoken.js';
import { DataTokenSpec, DataTokenStatus, DATA_TOKEN, DATA_TOKEN_FIELDS } from './datatoken.js';
import { DeltaShareTokenSpec, DeltaShareTokenStatus, DELTA_SHARE_TOKEN, DELTA_SHARE_TOKEN_FIELDS } from './deltasharetoken.js';
import type { TemplateFields } from './template.js';

export * from './common.js';
export * from './accesstoken.js';
export * from './datatoken.js';
export * from './deltasharetoken.js';
export * from './reasons.js';
export * from './template.js';

export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: readonly string[];
  /** the spec fields of its provider blocks: the one set selects the provider (src/providers/registry.ts) */
  providers: readonly string[];
  /** the credential's fields a spec.target.template may use (template.ts) */
  fields: TemplateFields;
  spec: z.ZodType;
  status: z.ZodType;
}

/**
 * The kinds: the one table every list of kinds comes from (the operator's controllers and
 * config, the CLI, and, through `npm run generate`, the CRDs and the chart's RBAC and values
 * schema).
 */
export const KINDS = [
  { ...DELTA_SHARE_TOKEN, fields: DELTA_SHARE_TOKEN_FIELDS, spec: DeltaShareTokenSpec, status: DeltaShareTokenStatus },
  { ...ACCESS_TOKEN, fields: ACCESS_TOKEN_FIELDS, spec: AccessTokenSpec, status: AccessTokenStatus },
  { ...DATA_TOKEN, fields: DATA_TOKEN_FIELDS, spec: DataTokenSpec, status: DataTokenStatus },
] as const satisfies readonly KindDefinition[];

export type KindName = (typeof KINDS)[number]['kind'];
export const KIND_NAMES = KINDS.map((k) => k.kind) as [KindName, ...KindName[]];

export function kindDefinition(kind: string): (typeof KINDS)[number] | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/** The shape of a custom resource as the operator reads it from the API server. */
export interface Resource<Spec, Status> {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: Spec;
  status?: Status;
}

export type DeltaShareToken = Resource<DeltaShareTokenSpec, DeltaShareTokenStatus>;
export type AccessToken = Resource<AccessTokenSpec, AccessTokenStatus>;
export type DataToken = Resource<DataTokenSpec, DataTokenStatus>;

/** The credential fields a spec.target.template may use, by kind (template.ts). */
export const TEMPLATE_FIELDS: Readonly<Record<string, TemplateFields>> = Object.fromEntries(KINDS.map((k) => [k.kind, k.fields]));
