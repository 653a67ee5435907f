import { z } from 'zod';

/**
 * spec.target.template: the Secret shaped the way the workload reads it (External Secrets'
 * target.template, in Mustache). One schema per kind, built from the kind's table of credential
 * fields, so the CRD both documents the field names a template may use and refuses, at
 * admission, what the API server can judge: key names, sizes, tags that do not close, tags that
 * name a field the kind does not have, partials and delimiter changes. Nesting and what depends
 * on the credential itself are judged when rendering (src/template/), which sets
 * Stalled=True, reason TemplateInvalid.
 */

/** The helpers a template may use, as sections: {{#base64}}…{{/base64}}. */
export const TEMPLATE_HELPERS = {
  base64: 'base64-encodes what the section renders',
  base64Decode: 'decodes base64 (standard or URL-safe, padding optional) to UTF-8 text',
  json: 'a JSON string literal, quotes included',
  upper: 'upper case',
  lower: 'lower case',
} as const;
export type TemplateHelper = keyof typeof TEMPLATE_HELPERS;

/**
 * A spec field that must hold for a credential field to exist: `path` is set (below spec); with
 * `equals`, has that value; with `absent`, is not set (e.g. "any provider block but gnap"). One
 * description drives both the admission rule and the check at run time.
 */
export interface FieldCondition {
  path: string;
  equals?: boolean;
  absent?: true;
  /** what a person reads in a message, e.g. "spec.oidc.exposeRefreshToken: true" */
  says: string;
}

export interface TemplateField {
  description: string;
  /**
   * A credential (or part of one): templates may put it into data, never into labels or
   * annotations, which metadata-only readers, lists, watches and audit logs see.
   */
  secret: boolean;
  /** the field exists only when this holds (a mode of the kind, an opt-in); absent: always */
  only?: FieldCondition;
}

export type TemplateFields = Readonly<Record<string, TemplateField>>;

export const MERGE_POLICIES = ['Replace', 'Merge'] as const;
export type MergePolicy = (typeof MERGE_POLICIES)[number];

/** Sizes: a Secret holds at most 1 MiB; the bounds also keep the CEL cost estimates in budget. */
export const TEMPLATE_LIMITS = { dataKeys: 32, dataTemplate: 8192, metadataKeys: 16, labelTemplate: 256, annotationTemplate: 4096 } as const;

/** Secret types a template may set, with the data keys the API server then requires. */
const TYPE_NEEDS: Record<string, { keys: string[]; any?: boolean }> = {
  'kubernetes.io/dockerconfigjson': { keys: ['.dockerconfigjson'] },
  'kubernetes.io/dockercfg': { keys: ['.dockercfg'] },
  'kubernetes.io/basic-auth': { keys: ['username', 'password'], any: true },
  'kubernetes.io/ssh-auth': { keys: ['ssh-privatekey'] },
  'kubernetes.io/tls': { keys: ['tls.crt', 'tls.key'] },
};

// ---------------------------------------------------------------------------------------
// Regular expressions shared by the CEL rules (RE2) and the tests (JavaScript): no lookahead,
// no flags, written so both engines read them the same way.

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const alt = (names: readonly string[]) => `(?:${names.map(escapeRe).join('|')})`;

/** Text with no "{{" in it: a single "{" is fine (JSON braces), "{{" always opens a tag. */
const TEXT = '(?:[^{]|\\{[^{]|\\{$)';

/**
 * One tag this operator supports, naming only `fields` (and, in sections, the helpers):
 * {{name}}, {{{name}}}, {{&name}}, {{#name}}, {{^name}}, {{/name}}, {{! comment }}. (Folded
 * into one alternation: the API server's cost estimate grows with the pattern's length.)
 */
export function allowedTagPattern(fields: readonly string[], helpers: readonly string[]): string {
  const f = alt(fields);
  const sectionNames = helpers.length ? alt([...fields, ...helpers]) : f;
  return `\\{\\{(?:\\{\\s*${f}\\s*\\}\\}\\}|\\s*(?:(?:[&^]\\s*)?${f}|[#/]\\s*${sectionNames}|![^{}]*)\\s*\\}\\})`;
}

/** A whole template: text and supported tags only. */
export function templatePattern(fields: readonly string[], helpers: readonly string[]): string {
  return `^(?:${TEXT}|${allowedTagPattern(fields, helpers)})*$`;
}

/** The part of a template before the first tag that is not supported (the admission message quotes what follows). */
const validPrefix = (fields: readonly string[], helpers: readonly string[]) => `^(?:${TEXT}|${allowedTagPattern(fields, helpers)})*`;

const celString = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

type Rule = { rule: string; message: string; messageExpression?: string; fieldPath?: string };

/**
 * The CEL rules of one template string. The API server names the map key in the path of a
 * failed rule (spec.target.template.data[KEY]); the message quotes the tag it stopped at.
 */
function templateRules(fields: readonly string[], helpers: readonly string[], offered: string): Rule[] {
  const whole = templatePattern(fields, helpers);
  const prefix = validPrefix(fields, helpers);
  // the 60 characters from the first unsupported tag: a template is spec, never a credential
  const snippet = `self.find(${celString(`${prefix}(?s:.{0,60})`)}).substring(self.find(${celString(prefix)}).size())`;
  return [
    {
      rule: `self.matches(${celString(whole)})`,
      message: `every "{{" must open a supported tag that names a field or helper: ${offered}; partials ({{>…}}) and delimiter changes ({{=…=}}) are not supported`,
      messageExpression: `'unsupported tag or unknown field at "' + ${snippet} + '": ${offered.replaceAll("'", "\\'")}; partials and delimiter changes are not supported'`,
    },
    {
      rule: "self.findAll('\\\\{\\\\{\\\\s*[#^]').size() == self.findAll('\\\\{\\\\{\\\\s*/').size()",
      message: 'every section {{#name}} or {{^name}} must be closed by {{/name}}',
    },
  ];
}

/** What a template may name, for a message. */
function offeredText(fields: TemplateFields, names: readonly string[], metadata: boolean): string {
  const list = names.map((n) => (fields[n]?.only ? `${n} (with ${fields[n]!.only!.says})` : n)).join(', ') || 'none';
  return `fields ${list}${metadata ? ' (no credential in metadata)' : ''}; helpers (as sections) ${Object.keys(TEMPLATE_HELPERS).join(', ')}`;
}

// Label and annotation keys follow the same rules as spec.target.labels/annotations (common.ts).
const QUALIFIED_NAME = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
function metadataKeyRules(what: 'label' | 'annotation'): Rule[] {
  return [
    {
      rule: `self.all(k, k.matches('${QUALIFIED_NAME}'))`,
      message: `template ${what} keys must be qualified names ([prefix/]name, the name at most 63 letters, digits, "-", "_" or ".")`,
    },
    {
      rule: `self.all(k, !k.startsWith('token-operator.io/')${what === 'label' ? " && k != 'app.kubernetes.io/managed-by'" : ''})`,
      message: `template ${what} keys under token-operator.io/${what === 'label' ? ' and app.kubernetes.io/managed-by' : ''} are set by the operator and cannot be overridden`,
    },
  ];
}

const SECRET_KEY_PATTERN = '^[.]?[-_a-zA-Z0-9][-._a-zA-Z0-9]*$';

/** CEL: does any template in the map at `map` (a path below spec.target.template) name `field`? */
function mentions(map: string, field: string): string {
  const m = `self.target.template.${map}`;
  const tag = celString(`\\{\\{\\{?\\s*[#^/&]?\\s*${escapeRe(field)}\\s*\\}`);
  return `(has(${m}) && ${m}.exists(k, ${m}[k].matches(${tag})))`;
}

function conditionCel(c: FieldCondition): string {
  if (c.absent) return `!has(self.${c.path})`;
  const parts = c.path.split('.');
  const guards = parts.map((_, i) => `has(self.${parts.slice(0, i + 1).join('.')})`);
  return [...guards, ...(c.equals !== undefined ? [`self.${c.path} == ${c.equals}`] : [])].join(' && ');
}

/**
 * Spec-level rules: a field that exists only in one mode (or with an opt-in) is refused in a
 * template of a resource without it. Least exposure: the OIDC refresh token can be templated
 * only where exposeRefreshToken already puts it into the Secret.
 */
export function templateFieldRules(kind: string, fields: TemplateFields): Rule[] {
  return Object.entries(fields)
    .filter(([, f]) => f.only)
    .map(([name, f]) => {
      const maps = f.secret ? ['data'] : ['data', 'labels', 'annotations'];
      return {
        rule: `!has(self.target.template) || !(${maps.map((m) => mentions(m, name)).join(' || ')}) || (${conditionCel(f.only!)})`,
        message: `spec.target.template uses the field ${name}, which ${kind} offers only with ${f.only!.says}`,
        fieldPath: '.target.template',
      };
    });
}

/** Fields a kind offers, for the CRD description: "name (secret; with …): description". */
function describeFields(fields: TemplateFields): string {
  return Object.entries(fields)
    .map(([n, f]) => `${n}${f.only ? ` (only with ${f.only.says})` : ''}${f.secret ? '' : ' [not secret: also in labels/annotations]'}: ${f.description}`)
    .join('; ');
}

/** The spec.target.template schema of a kind. */
export function targetTemplate(kind: string, fields: TemplateFields) {
  const names = Object.keys(fields);
  const helpers = Object.keys(TEMPLATE_HELPERS);
  const publicNames = names.filter((n) => !fields[n]!.secret);
  const dataTemplate = z
    .string()
    .max(TEMPLATE_LIMITS.dataTemplate)
    .meta({
      description: `A Mustache template for one data key. ${offeredText(fields, names, false)}.`,
      'x-kubernetes-validations': templateRules(names, helpers, offeredText(fields, names, false)),
    });
  const metadataTemplate = (max: number, what: string) =>
    z
      .string()
      .max(max)
      .meta({
        description: `A Mustache template for one ${what} value: ${offeredText(fields, publicNames, true)}.`,
        'x-kubernetes-validations': templateRules(publicNames, helpers, offeredText(fields, publicNames, true)),
      });
  const typeRules: Rule[] = [
    {
      rule: "self != 'kubernetes.io/service-account-token' && self != 'bootstrap.kubernetes.io/token'",
      message: 'type must not be a service account or bootstrap token Secret: the API server and the token controller own those',
    },
  ];
  return z
    .object({
      mergePolicy: z.enum(MERGE_POLICIES).optional().meta({
        description:
          'Replace (default): the Secret holds only the templated keys — least exposure: a workload gets just what it reads. ' +
          'Merge: the templated keys are added to the kind\'s default keys (a templated key of the same name wins).',
      }),
      type: z
        .string()
        .min(1)
        .max(253)
        .regex(/^[a-zA-Z0-9][-a-zA-Z0-9_./]*$/)
        .optional()
        .meta({
          description:
            'The Secret\'s type (default Opaque), e.g. kubernetes.io/dockerconfigjson or kubernetes.io/basic-auth; the data must then hold the keys the type ' +
            'requires. A Secret\'s type cannot change: it is set when the operator creates the Secret (not with creationPolicy Merge); for an existing Secret ' +
            'of another type the resource stalls (TemplateInvalid) until that Secret is deleted, and the operator then recreates it from its state Secret, with no new token.',
          'x-kubernetes-validations': typeRules,
        }),
      data: z
        .record(z.string().min(1).max(253), dataTemplate)
        .meta({
          description:
            `Secret key → Mustache template. ${kind} credential fields: ${describeFields(fields)}. ` +
            `Helpers, as sections: ${Object.entries(TEMPLATE_HELPERS).map(([h, d]) => `{{#${h}}}…{{/${h}}} ${d}`).join('; ')}. ` +
            'Values are inserted as they are (no HTML escaping); {{name}}, {{{name}}} and {{&name}} are the same. {{#field}}…{{/field}} renders its content ' +
            'only when the field is not empty, {{^field}}…{{/field}} only when it is. A field a template names must exist for this resource, or the resource ' +
            'stalls with reason TemplateInvalid naming the key and the field, and the Secret is left as it was. A credential value is data: template syntax ' +
            'inside it is never evaluated. Partials and delimiter changes are not supported.',
          minProperties: 1,
          maxProperties: TEMPLATE_LIMITS.dataKeys,
          'x-kubernetes-validations': [
            {
              rule: `self.all(k, k.matches('${SECRET_KEY_PATTERN}'))`,
              message: 'template data keys must be valid Secret keys (letters, digits, "-", "_", "."; not "." or "..")',
              messageExpression: `'template data key "' + self.filter(k, !k.matches('${SECRET_KEY_PATTERN}'))[0] + '" is not a valid Secret key (letters, digits, "-", "_", "."; not "." or "..")'`,
            },
            { rule: "self.all(k, k != '.' && k != '..')", message: 'template data keys must not be "." or ".."' },
          ],
        }),
      labels: z
        .record(z.string().max(317), metadataTemplate(TEMPLATE_LIMITS.labelTemplate, 'label'))
        .optional()
        .meta({
          description:
            'Labels for the Secret, as templates (added to spec.target.labels; a key in both takes the template). The rendered value must be a valid label value (at most 63 characters).',
          maxProperties: TEMPLATE_LIMITS.metadataKeys,
          'x-kubernetes-validations': metadataKeyRules('label'),
        }),
      annotations: z
        .record(z.string().max(317), metadataTemplate(TEMPLATE_LIMITS.annotationTemplate, 'annotation'))
        .optional()
        .meta({
          description: 'Annotations for the Secret, as templates (added to spec.target.annotations; a key in both takes the template).',
          maxProperties: TEMPLATE_LIMITS.metadataKeys,
          'x-kubernetes-validations': metadataKeyRules('annotation'),
        }),
    })
    .meta({
      description:
        'Shape the Secret the way the workload reads it: keys named as the workload expects, a config file, an Authorization header value. ' +
        'The operator keeps the credential\'s own fields in its state Secret and renders the templates from them on every write: each issuance and ' +
        'rotation, drift repair, and once after the template itself changes. Only the fields a workload may see are offered: what can mint new ' +
        'credentials (the OIDC refresh token unless oidc.exposeRefreshToken, the GNAP manage URL) is not.',
      'x-kubernetes-validations': Object.entries(TYPE_NEEDS).map(([type, need]) => ({
        rule: `!has(self.type) || self.type != '${type}' || ${need.keys.map((k) => `'${k}' in self.data`).join(need.any ? ' || ' : ' && ')}`,
        message: `type ${type} needs the data key${need.keys.length > 1 ? 's' : ''} ${need.keys.join(need.any ? ' or ' : ' and ')}`,
      })),
    });
}

export type TargetTemplate = {
  mergePolicy?: MergePolicy | undefined;
  type?: string | undefined;
  data: Record<string, string>;
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
};

/** Does the condition hold for this spec (the run-time twin of the admission rule)? */
export function conditionHolds(c: FieldCondition, spec: unknown): boolean {
  let node: unknown = spec;
  for (const p of c.path.split('.')) {
    if (node === null || typeof node !== 'object') return c.absent === true;
    node = (node as Record<string, unknown>)[p];
  }
  if (c.absent) return node === undefined;
  return c.equals === undefined ? node !== undefined : node === c.equals;
}
