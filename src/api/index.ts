import type { z } from 'zod';
import { AccessTokenSpec, AccessTokenStatus, ACCESS_TOKEN, ACCESS_TOKEN_FIELDS } from './accesstoken.js';
import { DataTokenSpec, DataTokenStatus, DATA_TOKEN, DATA_TOKEN_FIELDS } from './datatoken.js';
import { DeltaShareTokenSpec, DeltaShareTokenStatus, DELTA_SHARE_TOKEN, DELTA_SHARE_TOKEN_FIELDS } from './deltasharetoken.js';
import type { TemplateFields } from './template.js';

export * from './common.js';
export * from './accesstoken.js';
export * from './datatoken.js';
export * from './deltasharetoken.js';
export * from './template.js';

export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: readonly string[];
  spec: z.ZodType;
  status: z.ZodType;
}

export const KINDS = [
  { ...DELTA_SHARE_TOKEN, spec: DeltaShareTokenSpec, status: DeltaShareTokenStatus },
  { ...ACCESS_TOKEN, spec: AccessTokenSpec, status: AccessTokenStatus },
  { ...DATA_TOKEN, spec: DataTokenSpec, status: DataTokenStatus },
] as const satisfies readonly KindDefinition[];

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
export const TEMPLATE_FIELDS: Readonly<Record<string, TemplateFields>> = {
  [DELTA_SHARE_TOKEN.kind]: DELTA_SHARE_TOKEN_FIELDS,
  [ACCESS_TOKEN.kind]: ACCESS_TOKEN_FIELDS,
  [DATA_TOKEN.kind]: DATA_TOKEN_FIELDS,
};
