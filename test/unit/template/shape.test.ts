import { describe, expect, it } from 'vitest';
import {
  ACCESS_TOKEN_FIELDS,
  DATA_TOKEN_FIELDS,
  DELTA_SHARE_TOKEN_FIELDS,
  TEMPLATE_HELPERS,
  templatePattern,
  type TargetTemplate,
} from '../../../src/api/index.js';
import { thrown } from '../../support/thrown.js';
import { MAX_RENDERED_CHARS, TemplateError, checkTemplate, shapeTarget, shareTemplate, templateDigest, type Offer } from '../../../src/template/shape.js';

const SECRET = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.s1gnature-VALUE';
const oidc: Offer = { kind: 'AccessToken', fields: ACCESS_TOKEN_FIELDS, spec: { oidc: { clientId: 'c' } } };
const oidcExposed: Offer = { ...oidc, spec: { oidc: { clientId: 'c', exposeRefreshToken: true } } };
const gnap: Offer = { kind: 'AccessToken', fields: ACCESS_TOKEN_FIELDS, spec: { gnap: {} } };
const dds: Offer = { kind: 'DeltaShareToken', fields: DELTA_SHARE_TOKEN_FIELDS, spec: { dds: {} } };
const tokenRef: Offer = { kind: 'DataToken', fields: DATA_TOKEN_FIELDS, spec: { tokenRef: {} } };

const oidcValues = { access_token: SECRET, token_type: 'Bearer', expires_at: '2030-01-02T03:04:05.000Z' };
const ddsValues = {
  'config.share': JSON.stringify({ shareCredentialsVersion: 1, endpoint: 'https://sharing.example.com/delta-sharing/', bearerToken: SECRET }),
  endpoint: 'https://sharing.example.com/delta-sharing/',
  bearerToken: SECRET,
  expirationTime: '2030-01-02T03:04:05.000Z',
};

const data = (d: Record<string, string>, more: Partial<TargetTemplate> = {}): TargetTemplate => ({ data: d, ...more });

const failure = (fn: () => unknown) => thrown(TemplateError, fn);

describe('shapeTarget: the Secret the workload reads', () => {
  it('without a template writes the default keys', () => {
    expect(shapeTarget(undefined, oidcValues, oidc)).toEqual({ data: oidcValues, labels: {}, annotations: {} });
  });

  it('the three common shapes: env vars for envFrom, a config file, an Authorization header value', () => {
    const t = data({
      DELTA_SHARING_TOKEN: '{{bearerToken}}',
      DELTA_SHARING_ENDPOINT: '{{ endpoint }}',
      'profile.share': '{{{config.share}}}',
      authorization: 'Bearer {{&bearerToken}}',
      '.databrickscfg': '[DEFAULT]\nhost = {{endpoint}}\ntoken = {{bearerToken}}\n',
    });
    expect(shapeTarget(t, ddsValues, dds).data).toEqual({
      DELTA_SHARING_TOKEN: SECRET,
      DELTA_SHARING_ENDPOINT: ddsValues.endpoint,
      'profile.share': ddsValues['config.share'],
      authorization: `Bearer ${SECRET}`,
      '.databrickscfg': `[DEFAULT]\nhost = ${ddsValues.endpoint}\ntoken = ${SECRET}\n`,
    });
  });

  it('mergePolicy Replace (the default) writes only the templated keys; Merge adds them to the default keys, a templated key winning', () => {
    expect(Object.keys(shapeTarget(data({ TOKEN: '{{access_token}}' }), oidcValues, oidc).data)).toEqual(['TOKEN']);
    const merged = shapeTarget(data({ TOKEN: '{{access_token}}', token_type: '{{#lower}}{{token_type}}{{/lower}}' }, { mergePolicy: 'Merge' }), oidcValues, oidc).data;
    expect(merged).toEqual({ ...oidcValues, TOKEN: SECRET, token_type: 'bearer' });
  });

  it('inserts values as they are: no HTML escaping', () => {
    const values = { ...oidcValues, access_token: `a<b>&"c'` };
    expect(shapeTarget(data({ t: '{{access_token}}|{{{access_token}}}|{{&access_token}}' }), values, oidc).data.t).toBe(`a<b>&"c'|a<b>&"c'|a<b>&"c'`);
  });

  it('labels, annotations and type come with the data; labels and annotations only from fields that are not secret', () => {
    const shaped = shapeTarget(
      data({ '.dockerconfigjson': '{"auths":{"r.example.com":{"auth":"{{#base64}}oauth2:{{access_token}}{{/base64}}"}}}' }, {
        type: 'kubernetes.io/dockerconfigjson',
        labels: { 'example.com/token-type': '{{#lower}}{{token_type}}{{/lower}}' },
        annotations: { 'example.com/expires': '{{expires_at}}' },
      }),
      oidcValues,
      oidc,
    );
    expect(shaped.type).toBe('kubernetes.io/dockerconfigjson');
    expect(shaped.labels).toEqual({ 'example.com/token-type': 'bearer' });
    expect(shaped.annotations).toEqual({ 'example.com/expires': oidcValues.expires_at });
    const auth = (JSON.parse(shaped.data['.dockerconfigjson']!) as { auths: Record<string, { auth: string }> }).auths['r.example.com']!.auth;
    expect(Buffer.from(auth, 'base64').toString()).toBe(`oauth2:${SECRET}`);
  });
});

describe('helpers', () => {
  const one = (template: string, values: Record<string, string> = oidcValues, offer: Offer = oidc) => shapeTarget(data({ k: template }), values, offer).data.k!;

  it('base64 encodes what its section renders, text and fields alike', () => {
    expect(one('{{#base64}}user:{{access_token}}{{/base64}}')).toBe(Buffer.from(`user:${SECRET}`).toString('base64'));
    expect(one('{{#base64}}{{/base64}}')).toBe('');
  });

  it('base64Decode reads standard and URL-safe base64, padded or not (a JWT segment)', () => {
    const payload = '{"sub":"svc-äöü","scope":"read write"}';
    const values = (v: string) => ({ ...oidcValues, access_token: v });
    expect(one('{{#base64Decode}}{{access_token}}{{/base64Decode}}', values(Buffer.from(payload).toString('base64')))).toBe(payload);
    expect(one('{{#base64Decode}}{{access_token}}{{/base64Decode}}', values(Buffer.from(payload).toString('base64url')))).toBe(payload);
    expect(one('{{#base64Decode}}{{#base64}}{{access_token}}{{/base64}}{{/base64Decode}}')).toBe(SECRET);
  });

  it('base64Decode refuses what is not base64, or not UTF-8 text, without quoting it', () => {
    for (const bad of [SECRET, 'abc$def', Buffer.from([0xff, 0xfe, 0x00, 0x80]).toString('base64')]) {
      const e = failure(() => one('{{#base64Decode}}{{access_token}}{{/base64Decode}}', { ...oidcValues, access_token: bad }));
      expect(e.message).toMatch(/^spec\.target\.template\.data\["k"\]: base64Decode: /);
      expect(e.message).toContain('the section renders access_token');
      expect(e.field).toBe('base64Decode');
      expect(e.message).not.toContain(bad);
    }
  });

  it('json makes a JSON string literal, quotes included, escaping what JSON needs', () => {
    const tricky = 'a"b\\c\nd\u0001e</script>';
    const out = one('{"token": {{#json}}{{access_token}}{{/json}}}', { ...oidcValues, access_token: tricky });
    expect(JSON.parse(out)).toEqual({ token: tricky });
  });

  it('upper and lower; helpers nest', () => {
    expect(one('{{#upper}}{{token_type}}{{/upper}} {{#lower}}ABC{{/lower}}')).toBe('BEARER abc');
    expect(one('{{#json}}{{#upper}}{{token_type}}{{/upper}}{{/json}}')).toBe('"BEARER"');
  });

  it('every helper the API documents exists', () => {
    for (const h of Object.keys(TEMPLATE_HELPERS)) expect(() => one(`{{#${h}}}{{/${h}}}`)).not.toThrow();
  });
});

describe('sections on fields', () => {
  it('{{#field}} renders when the field is not empty, {{^field}} when it is', () => {
    const t = '{{#refresh_token}}refresh={{refresh_token}}{{/refresh_token}}{{^refresh_token}}none{{/refresh_token}}';
    expect(shapeTarget(data({ k: t }), { ...oidcValues, refresh_token: 'r1' }, oidcExposed).data.k).toBe('refresh=r1');
    expect(shapeTarget(data({ k: t }), { ...oidcValues, refresh_token: '' }, oidcExposed).data.k).toBe('none');
  });

  it('a standalone section line leaves no blank line (Mustache\'s rule)', () => {
    const t = '[auth]\n{{#token_type}}\ntype = {{token_type}}\n{{/token_type}}\ntoken = {{access_token}}\n';
    expect(shapeTarget(data({ k: t }), oidcValues, oidc).data.k).toBe(`[auth]\ntype = Bearer\ntoken = ${SECRET}\n`);
  });
});

describe('a template that cannot render names the template and the field, never a value', () => {
  const cases: Array<[string, TargetTemplate, Offer, string | undefined, RegExp]> = [
    ['an unknown field', data({ DATABRICKS_TOKEN: 'x {{token}}' }), dds, 'token', /data\["DATABRICKS_TOKEN"\]: unknown field "token": DeltaShareToken offers config\.share, endpoint, bearerToken, expirationTime/],
    ['a dotted lookup', data({ t: '{{access_token.length}}' }), oidc, 'access_token.length', /unknown field "access_token\.length"/],
    ['an Object.prototype name', data({ t: '{{constructor}}' }), oidc, 'constructor', /unknown field "constructor"/],
    ['__proto__', data({ t: '{{#__proto__}}x{{/__proto__}}' }), oidc, '__proto__', /unknown field "__proto__"/],
    ['a field of another mode (gnap has no token_type)', data({ t: '{{token_type}}' }), gnap, 'token_type', /the field token_type exists only with an OAuth2 grant \(not spec\.gnap\)/],
    ['the refresh token without exposeRefreshToken', data({ t: '{{refresh_token}}' }), oidc, 'refresh_token', /exists only with spec\.oidc\.exposeRefreshToken: true/],
    ['tokenRef mode has no data_token', data({ t: '{{data_token}}' }), tokenRef, 'data_token', /exists only with spec\.source/],
    ['a credential in an annotation', data({ t: '{{access_token}}' }, { annotations: { 'example.com/t': '{{access_token}}' } }), oidc, 'access_token', /annotations\["example\.com\/t"\]: the field access_token is a credential: labels and annotations may use only token_type, expires_at, access/],
    ['a credential in a label, inside a helper', data({ t: '{{access_token}}' }, { labels: { t: '{{#upper}}{{access_token}}{{/upper}}' } }), oidc, 'access_token', /labels\["t"\]: the field access_token is a credential/],
    ['a helper used as a value', data({ t: '{{base64}}' }), oidc, 'base64', /base64 is a helper: use it as a section/],
    ['an inverted helper', data({ t: '{{^json}}x{{/json}}' }), oidc, 'json', /json is a helper/],
    ['a partial', data({ t: '{{> /etc/passwd}}' }), oidc, undefined, /partials .* are not supported/],
    ['a delimiter change', data({ t: '{{=<% %>=}}<% access_token %>' }), oidc, undefined, /changing the delimiters .* is not supported/],
    ['an unclosed tag', data({ t: 'Bearer {{access_token' }), oidc, undefined, /does not parse: Unclosed tag at/],
    ['an unclosed section', data({ t: '{{#base64}}{{access_token}}' }), oidc, undefined, /does not parse: Unclosed section "base64"/],
    ['crossed sections', data({ t: '{{#base64}}{{#upper}}x{{/base64}}{{/upper}}' }), oidc, undefined, /does not parse: Unclosed section "upper"/],
    ['a section closed that never opened', data({ t: 'x{{/json}}' }), oidc, undefined, /does not parse: Unopened section "json"/],
  ];

  it.each(cases)('%s', (_why, template, offer, field, message) => {
    for (const run of [() => checkTemplate(template, offer), () => shapeTarget(template, { ...oidcValues, ...ddsValues, refresh_token: SECRET }, offer)]) {
      const e = failure(run);
      expect(e.message).toMatch(/^spec\.target\.template\.(data|labels|annotations)\[/);
      expect(e.message).toMatch(message);
      expect(e.field).toBe(field);
      expect(e.message).not.toContain(SECRET);
    }
  });

  it('a label that does not render a label value (an RFC 3339 time has colons) is named', () => {
    const e = failure(() => shapeTarget(data({ t: '{{access_token}}' }, { labels: { expires: '{{expires_at}}' } }), oidcValues, oidc));
    expect(e.message).toMatch(/^spec\.target\.template\.labels\["expires"\]: does not render a valid label value .*; it renders expires_at$/);
    expect(e.field).toBe('expires_at');
    expect(e.message).not.toContain(oidcValues.expires_at);
  });

  it('a dockerconfigjson that is not JSON is refused before the API server would', () => {
    const e = failure(() => shapeTarget(data({ '.dockerconfigjson': '{"auths": {{access_token}}}' }, { type: 'kubernetes.io/dockerconfigjson' }), oidcValues, oidc));
    expect(e.message).toMatch(/data\["\.dockerconfigjson"\]: does not render JSON, which a Secret of type kubernetes\.io\/dockerconfigjson must hold/);
    expect(e.message).not.toContain(SECRET);
  });

  it('a field the credential lacks at run time is named', () => {
    const e = failure(() => shapeTarget(data({ t: '{{token_type}}' }), { access_token: SECRET }, oidc));
    expect(e.message).toBe('spec.target.template.data["t"]: the field token_type has no value in this credential');
  });

  it('output is bounded: a template cannot make the operator build more than a Secret holds', () => {
    const big = 'x'.repeat(64 * 1024);
    const template = data({ d: '{{data}}'.repeat(1000) });
    const e = failure(() => shapeTarget(template, { data: big }, tokenRef));
    expect(e.message).toContain(`renders more than ${MAX_RENDERED_CHARS} characters`);
    const nested = failure(() => shapeTarget(data({ d: `{{#base64}}${'{{data}}'.repeat(20)}{{/base64}}` }), { data: big }, tokenRef));
    expect(nested.message).toContain('renders more than');
  });
});

describe('injection: a credential is data, never evaluated', () => {
  const attacks = [
    '{{access_token}}',
    '{{{token_type}}}',
    '{{#base64}}{{expires_at}}{{/base64}}',
    '{{> /etc/passwd}}',
    '{{=<% %>=}}<% access_token %>',
    '{{#constructor}}{{constructor}}{{/constructor}}',
    '}}{{',
    '{{',
  ];

  it.each(attacks)('a value %j comes out as it went in', (attack) => {
    const values = { ...oidcValues, access_token: attack, token_type: attack };
    const out = shapeTarget(
      data({ plain: '{{access_token}}', header: 'Bearer {{access_token}}', json: '{{#json}}{{access_token}}{{/json}}', b64: '{{#base64}}{{access_token}}{{/base64}}', up: '{{#upper}}{{access_token}}{{/upper}}' }),
      values,
      oidc,
    ).data;
    expect(out.plain).toBe(attack);
    expect(out.header).toBe(`Bearer ${attack}`);
    expect(JSON.parse(out.json!)).toBe(attack);
    expect(Buffer.from(out.b64!, 'base64').toString()).toBe(attack);
    expect(out.up).toBe(attack.toUpperCase());
  });

  it('a helper result is not parsed again either', () => {
    // base64Decode of "{{token_type}}" must stay that text, not become the token type
    const encoded = Buffer.from('{{token_type}}').toString('base64');
    expect(shapeTarget(data({ k: '{{#base64Decode}}{{access_token}}{{/base64Decode}}' }), { ...oidcValues, access_token: encoded }, oidc).data.k).toBe('{{token_type}}');
  });
});

describe('templateDigest', () => {
  it('is stable under key order, changes with the template, and is absent without one', () => {
    const a: TargetTemplate = { mergePolicy: 'Merge', data: { A: '{{access_token}}', B: '{{expires_at}}' }, labels: { x: 'y' } };
    const b: TargetTemplate = { labels: { x: 'y' }, data: { B: '{{expires_at}}', A: '{{access_token}}' }, mergePolicy: 'Merge' };
    expect(templateDigest(a)).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(templateDigest(b)).toBe(templateDigest(a));
    expect(templateDigest({ ...a, data: { A: 'Bearer {{access_token}}', B: '{{expires_at}}' } })).not.toBe(templateDigest(a));
    expect(templateDigest({ ...a, mergePolicy: 'Replace' })).not.toBe(templateDigest(a));
    expect(templateDigest(undefined)).toBeUndefined();
  });
});

describe('the admission pattern (CEL, RE2) and the renderer agree', () => {
  const names = Object.keys(ACCESS_TOKEN_FIELDS);
  const pattern = new RegExp(templatePattern(names, Object.keys(TEMPLATE_HELPERS)));
  const everything: Offer = { kind: 'AccessToken', fields: ACCESS_TOKEN_FIELDS, spec: { oidc: { exposeRefreshToken: true }, gnap: {} } };
  const corpus = [
    '{{access_token}}',
    'Bearer {{ access_token }}',
    '{{{access_token}}}',
    '{{& access_token}}',
    '{"a":{"b":{{#json}}{{access}}{{/json}}}}',
    '{{#base64}}u:{{access_token}}{{/base64}}',
    '{{^refresh_token}}none{{/refresh_token}}',
    '{{! a comment }}x',
    'single { brace } and }} alone',
    'ends with {',
    '{{token}}',
    '{{access_token.x}}',
    '{{base64}}',
    '{{^json}}{{/json}}',
    '{{> p}}',
    '{{=<% %>=}}',
    '{{access_token',
    '{{{access_token}}',
    '{{ {access_token}}',
    '{{#upper}}{{access_token}}{{/upper}}',
  ];

  it.each(corpus)('%j', (template) => {
    const admitted = pattern.test(template);
    let rendered = true;
    try {
      checkTemplate(data({ k: template }), everything);
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      rendered = false;
    }
    // admission may let through what only the renderer can judge (nesting), never the reverse
    if (rendered) expect(admitted).toBe(true);
    if (!admitted) expect(rendered).toBe(false);
  });
});

describe('shareTemplate: one cached object per distinct template', () => {
  it('hands out the first object for the same content (whatever the key order), another for other content, frozen', () => {
    const first = shareTemplate(data({ A: '{{access_token}}', B: 'Bearer {{access_token}}' }, { annotations: { x: '{{expires_at}}' } }));
    const same = shareTemplate({ annotations: { x: '{{expires_at}}' }, data: { B: 'Bearer {{access_token}}', A: '{{access_token}}' } });
    expect(same).toBe(first);
    expect(shareTemplate(data({ A: '{{access_token}}', B: 'GNAP {{access_token}}' }, { annotations: { x: '{{expires_at}}' } }))).not.toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.data)).toBe(true);
    expect(() => {
      (first.data as Record<string, string>).A = '{{refresh_token}}';
    }).toThrow(TypeError);
  });

  it('a shared template is judged for each resource: a field one mode has and the other lacks', () => {
    // checked (and remembered) as fine for a resource that exposes the refresh token ...
    const t = shareTemplate(data({ R: '{{refresh_token}}' }));
    expect(() => checkTemplate(t, oidcExposed)).not.toThrow();
    expect(() => checkTemplate(t, oidcExposed)).not.toThrow();
    // ... the same object is still refused for one that does not, and for another kind
    expect(failure(() => checkTemplate(t, oidc)).field).toBe('refresh_token');
    expect(failure(() => checkTemplate(t, dds)).message).toMatch(/unknown field "refresh_token"/);
    expect(() => checkTemplate(t, oidcExposed)).not.toThrow();
  });
});
