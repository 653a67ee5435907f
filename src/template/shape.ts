import { createHash } from 'node:crypto';
import Mustache from 'mustache';
import { conditionHolds, type TargetTemplate, type TemplateFields } from '../api/index.js';
import { HELPERS, HelperError, isHelper } from './helpers.js';

/**
 * spec.target.template → the target Secret's content (External Secrets' target.template, in
 * Mustache: logic-less, no partials here, nothing that reads a file, the environment or the
 * network). Mustache's own parser reads the template; the token tree is then checked against the
 * fields the resource offers and rendered here, by a walk that only ever appends: the template's
 * text, a field's value as it is, or a helper's result. A value is never parsed, so a credential
 * that contains "{{…}}" is data, never evaluated. Pure: no Kubernetes, no I/O.
 */

/** A template that cannot be rendered: `where` names the template, `field` what it named; never a value. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(
    /** e.g. spec.target.template.data["DATABRICKS_TOKEN"] */
    readonly where: string,
    /** the field (or helper) the template named, when the error is about one */
    readonly field: string | undefined,
    message: string,
  ) {
    super(`${where}: ${message}`);
  }
}

/** The rendered output of one Secret stays within what a Secret can hold (1 MiB). */
export const MAX_RENDERED_CHARS = 1024 * 1024;
const MAX_ANNOTATION_CHARS = 64 * 1024;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Secret types whose data key the API server parses as JSON (a bad one is refused with a 422). */
const JSON_KEYS: Record<string, string> = { 'kubernetes.io/dockerconfigjson': '.dockerconfigjson', 'kubernetes.io/dockercfg': '.dockercfg' };

// Mustache's token tree: [type, value, start, end, children?, ...]; types: text, name, &, #, ^, !, >, =.
type Token = [string, string, number, number, Token[]?, number?];

// A writer of our own, without its template cache: templates are the tenants', and a cache
// keyed by their text would grow with every template ever seen.
const writer = Object.assign(new Mustache.Writer(), { templateCache: undefined });
const TAGS: [string, string] = ['{{', '}}'];

/** What a resource's templates may name: the kind's fields, and which of them exist for its spec. */
export interface Offer {
  kind: string;
  fields: TemplateFields;
  spec: unknown;
}

type Part = 'data' | 'labels' | 'annotations';
const whereOf = (part: Part, key: string) => `spec.target.template.${part}[${JSON.stringify(key)}]`;

function parse(text: string, where: string): Token[] {
  try {
    return writer.parse(text, TAGS) as Token[];
  } catch (e) {
    // mustache's messages name positions and section names: template text, never a value
    throw new TemplateError(where, undefined, `does not parse: ${e instanceof Error ? e.message : 'unknown error'}`);
  }
}

/** Throws unless every name in the tree is a field this resource has (and, in metadata, not a secret one). */
function check(tokens: Token[], where: string, offer: Offer, metadata: boolean): void {
  for (const [type, name, , , children] of tokens) {
    switch (type) {
      case 'text':
      case '!':
        break;
      case '>':
        throw new TemplateError(where, undefined, `partials ({{>${name}}}) are not supported`);
      case '=':
        throw new TemplateError(where, undefined, 'changing the delimiters ({{=…=}}) is not supported');
      case '#':
        if (isHelper(name)) break;
        checkField(name, where, offer, metadata);
        break;
      case 'name':
      case '&':
      case '^':
        if (isHelper(name)) throw new TemplateError(where, name, `${name} is a helper: use it as a section, {{#${name}}}…{{/${name}}}`);
        checkField(name, where, offer, metadata);
        break;
      default:
        throw new TemplateError(where, undefined, `unsupported tag type "${type}"`);
    }
    if (children) check(children, where, offer, metadata);
  }
}

function checkField(name: string, where: string, offer: Offer, metadata: boolean): void {
  const f = Object.hasOwn(offer.fields, name) ? offer.fields[name] : undefined;
  if (!f) {
    throw new TemplateError(where, name, `unknown field ${JSON.stringify(name)}: ${offer.kind} offers ${Object.keys(offer.fields).join(', ')}`);
  }
  if (f.only && !conditionHolds(f.only, offer.spec)) {
    throw new TemplateError(where, name, `the field ${name} exists only with ${f.only.says}`);
  }
  if (metadata && f.secret) {
    throw new TemplateError(where, name, `the field ${name} is a credential: labels and annotations may use only ${publicFields(offer).join(', ') || 'no field'}`);
  }
}

const publicFields = (offer: Offer) => Object.keys(offer.fields).filter((n) => !offer.fields[n]!.secret);

/** Parses and checks one template: the tokens, ready to render. */
function compile(text: string, part: Part, key: string, offer: Offer): Token[] {
  const where = whereOf(part, key);
  const tokens = parse(text, where);
  check(tokens, where, offer, part !== 'data');
  return tokens;
}

/**
 * Checks every template of spec.target.template against the fields the resource offers, without
 * a credential: run before any provider call, so a template that can never render mints nothing.
 */
export function checkTemplate(template: TargetTemplate | undefined, offer: Offer): void {
  if (!template) return;
  // every reconcile checks (before any provider call), but a template object is replaced, not
  // changed, when the resource changes (informer cache), and resources with the same template
  // share one object (shareTemplate): parse it once per set of fields it was checked against
  const offered = offerKey(offer);
  const passed = checkedWith.get(template);
  if (passed?.has(offered)) return;
  for (const part of ['data', 'labels', 'annotations'] as const) {
    for (const [key, text] of Object.entries(template[part] ?? {})) compile(text, part, key, offer);
  }
  if (passed) {
    // a handful of kinds and modes; a tenant's odd specs cannot grow it past that bound
    if (passed.size < 64) passed.add(offered);
  } else checkedWith.set(template, new Set([offered]));
}

/**
 * What checkTemplate's verdict depends on besides the template: the kind and which of its fields
 * this spec has (a field may exist only in one mode, e.g. OIDC's refresh token).
 */
function offerKey(offer: Offer): string {
  let key = offer.kind;
  for (const [name, f] of Object.entries(offer.fields)) if (!f.only || conditionHolds(f.only, offer.spec)) key += `\0${name}`;
  return key;
}

/** templates that passed checkTemplate, with the offers (offerKey) they passed with */
const checkedWith = new WeakMap<TargetTemplate, Set<string>>();
/** templateDigest per template object: every reconcile compares it with the Secret's annotation */
const digests = new WeakMap<TargetTemplate, string>();

interface Budget {
  left: number;
}

function fieldsIn(tokens: Token[], into = new Set<string>()): Set<string> {
  for (const t of tokens) {
    if (t[0] === 'name' || t[0] === '&' || ((t[0] === '#' || t[0] === '^') && !isHelper(t[1]))) into.add(t[1]);
    if (t[4]) fieldsIn(t[4], into);
  }
  return into;
}

function render(tokens: Token[], values: Readonly<Record<string, string>>, where: string, budget: Budget): string {
  let out = '';
  const append = (s: string) => {
    budget.left -= s.length;
    if (budget.left < 0) throw new TemplateError(where, undefined, `renders more than ${MAX_RENDERED_CHARS} characters, more than a Secret can hold`);
    out += s;
  };
  const value = (name: string): string => {
    const v = Object.hasOwn(values, name) ? values[name] : undefined;
    if (v === undefined) throw new TemplateError(where, name, `the field ${name} has no value in this credential`);
    return v;
  };
  for (const [type, name, , , children] of tokens) {
    if (type === 'text') append(name);
    else if (type === 'name' || type === '&') append(value(name));
    else if (type === '#' && isHelper(name)) {
      const inner = render(children ?? [], values, where, budget);
      budget.left += inner.length; // counted again as the helper's result
      try {
        append(HELPERS[name](inner));
      } catch (e) {
        if (!(e instanceof HelperError)) throw e;
        const used = [...fieldsIn(children ?? [])];
        throw new TemplateError(where, name, `${e.message}${used.length ? ` (the section renders ${used.join(', ')})` : ''}`);
      }
    } else if (type === '#' || type === '^') {
      const shown = (value(name) !== '') === (type === '#');
      if (shown) append(render(children ?? [], values, where, budget));
    }
  }
  return out;
}

/** What the target Secret gets: data, plus what the template adds to the Secret's metadata. */
export interface Shaped {
  data: Record<string, string>;
  /** rendered template labels (spec.target.labels are not included) */
  labels: Record<string, string>;
  /** rendered template annotations (spec.target.annotations are not included) */
  annotations: Record<string, string>;
  type?: string;
}

/**
 * The target content for a credential whose default keys are `values`. Without a template: the
 * default keys. With one: the templated keys (mergePolicy Replace, the default) or the default
 * keys plus the templated ones (Merge; a templated key wins). Throws TemplateError, naming the
 * template and the field, never a value.
 */
export function shapeTarget(template: TargetTemplate | undefined, values: Readonly<Record<string, string>>, offer: Offer): Shaped {
  if (!template) return { data: { ...values }, labels: {}, annotations: {} };
  const budget: Budget = { left: MAX_RENDERED_CHARS };
  const rendered = (part: Part): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [key, text] of Object.entries(template[part] ?? {})) {
      out[key] = render(compile(text, part, key, offer), values, whereOf(part, key), budget);
    }
    return out;
  };
  const data = rendered('data');
  const labels = rendered('labels');
  const annotations = rendered('annotations');
  for (const [key, v] of Object.entries(labels)) {
    if (v.length > 63 || !LABEL_VALUE.test(v)) {
      const used = [...fieldsIn(parse(template.labels![key]!, whereOf('labels', key)))];
      throw new TemplateError(
        whereOf('labels', key),
        used[0],
        `does not render a valid label value (at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit)${used.length ? `; it renders ${used.join(', ')}` : ''}`,
      );
    }
  }
  if (Object.values(annotations).reduce((n, v) => n + v.length, 0) > MAX_ANNOTATION_CHARS) {
    throw new TemplateError('spec.target.template.annotations', undefined, `render more than ${MAX_ANNOTATION_CHARS} characters`);
  }
  const jsonKey = template.type ? JSON_KEYS[template.type] : undefined;
  if (jsonKey && data[jsonKey] !== undefined && !isJson(data[jsonKey]!)) {
    throw new TemplateError(whereOf('data', jsonKey), undefined, `does not render JSON, which a Secret of type ${template.type} must hold`);
  }
  return {
    data: template.mergePolicy === 'Merge' ? { ...values, ...data } : data,
    labels,
    annotations,
    ...(template.type ? { type: template.type } : {}),
  };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
  );
}

const digestOf = (sha256Hex: string) => `sha256:${sha256Hex.slice(0, 16)}`;

/**
 * A short digest of spec.target.template, recorded on the target Secret with what was rendered
 * from it: a template change is seen from the cached Secret alone, and written once. The template
 * is spec, not a secret, so a plain hash is enough. Undefined without a template.
 */
export function templateDigest(template: TargetTemplate | undefined): string | undefined {
  if (!template) return undefined;
  let digest = digests.get(template);
  if (digest === undefined) {
    digest = digestOf(createHash('sha256').update(JSON.stringify(canonical(template))).digest('hex'));
    digests.set(template, digest);
  }
  return digest;
}

/**
 * One object for every cached resource whose spec.target.template is the same (by content):
 * thousands of resources stamped from one chart repeat the same template, and the informer
 * cache would otherwise hold a parsed copy of it per resource (about 0.5 KiB each at 10k, see
 * bench/README.md). Keyed by the full SHA-256 of its canonical JSON (another tenant's template
 * can never be handed out for yours); held weakly, so a template no cached resource uses any
 * more is collected with its entry. The shared object is frozen: nothing may change a cached spec.
 */
export function shareTemplate(template: TargetTemplate): TargetTemplate {
  const key = createHash('sha256').update(JSON.stringify(canonical(template))).digest('hex');
  const found = shared.get(key)?.deref();
  if (found) return found;
  // the same hash templateDigest takes: one hashing per distinct template, not two
  digests.set(template, digestOf(key));
  deepFreeze(template);
  shared.set(key, new WeakRef(template));
  unshared.register(template, key);
  return template;
}

const shared = new Map<string, WeakRef<TargetTemplate>>();
// the entry goes when its template is collected (unless a new one took the key meanwhile)
const unshared = new FinalizationRegistry<string>((key) => {
  if (shared.get(key)?.deref() === undefined) shared.delete(key);
});

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
  for (const child of Object.values(v)) deepFreeze(child);
  Object.freeze(v);
}
