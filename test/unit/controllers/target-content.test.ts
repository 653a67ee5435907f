import { describe, expect, it } from 'vitest';
import { ReconcileError } from '../../../src/controllers/shared/failures.js';
import { TEMPLATE_ANNOTATION, TEMPLATE_INVALID, checkTargetTemplate, targetContent, templateChanged, type Shapeable } from '../../../src/controllers/shared/target-content.js';
import { templateDigest } from '../../../src/template/shape.js';
import { thrown } from '../../support/thrown.js';

const fields = { access_token: 'at-123', token_type: 'Bearer', expires_at: '2030-01-01T00:00:00.000Z' };
const own = { 'token-operator.io/revision': '3', 'token-operator.io/expires-at': fields.expires_at };
const res = (target: Shapeable['spec']['target']): Shapeable => ({ kind: 'AccessToken', spec: { oidc: {}, target } as Shapeable['spec'] });

const reconcileError = (fn: () => unknown) => thrown(ReconcileError, fn);

describe('targetContent: what every write of the target Secret sends', () => {
  it('without a template: the default keys, the user\'s labels and annotations, the operator\'s own annotations, no digest', () => {
    const c = targetContent(res({ labels: { team: 'a' }, annotations: { note: 'n' } }), fields, { ...own, note: 'stale value from the state Secret' });
    expect(c).toEqual({ data: fields, labels: { team: 'a' }, annotations: { note: 'n', ...own } });
  });

  it('with one: the rendered keys, template labels and annotations over the spec\'s, the type, and the template\'s digest', () => {
    const template = {
      type: 'example.com/token',
      data: { authorization: '{{token_type}} {{access_token}}' },
      labels: { team: 'b', kind: '{{#lower}}{{token_type}}{{/lower}}' },
      annotations: { 'example.com/expires': '{{expires_at}}' },
    };
    const c = targetContent(res({ labels: { team: 'a', app: 'x' }, annotations: { note: 'n' }, template }), fields, { ...own, [TEMPLATE_ANNOTATION]: 'sha256:old' });
    expect(c).toEqual({
      data: { authorization: 'Bearer at-123' },
      labels: { team: 'b', app: 'x', kind: 'bearer' },
      annotations: { note: 'n', 'example.com/expires': fields.expires_at, ...own, [TEMPLATE_ANNOTATION]: templateDigest(template) },
      type: 'example.com/token',
    });
  });

  it('a template that cannot render is TemplateInvalid (Stalled), naming the key and the field, never a value', () => {
    const e = reconcileError(() => targetContent(res({ template: { data: { t: '{{#base64Decode}}{{access_token}}{{/base64Decode}}' } } }), { ...fields, access_token: 'not base64!' }, own));
    expect(e.reason).toBe(TEMPLATE_INVALID);
    expect(e.transient).toBe(false);
    expect(e.message).toContain('spec.target.template.data["t"]: base64Decode');
    expect(e.message).toContain('access_token');
    expect(e.message).not.toContain('not base64!');
  });

  it('checkTargetTemplate refuses, before any credential exists, what the resource does not have', () => {
    const e = reconcileError(() => checkTargetTemplate(res({ template: { data: { t: '{{refresh_token}}' } } })));
    expect(e.reason).toBe(TEMPLATE_INVALID);
    expect(e.message).toContain('the field refresh_token exists only with spec.oidc.exposeRefreshToken: true');
    expect(() => checkTargetTemplate(res({ template: { data: { t: '{{access_token}}' } } }))).not.toThrow();
    expect(() => checkTargetTemplate(res({}))).not.toThrow();
  });

  it('templateChanged compares the cached Secret\'s digest with the spec\'s: no template on either side is no change', () => {
    const template = { data: { t: '{{access_token}}' } };
    expect(templateChanged(res({}), {})).toBe(false);
    expect(templateChanged(res({ template }), {})).toBe(true);
    expect(templateChanged(res({ template }), { [TEMPLATE_ANNOTATION]: templateDigest(template)! })).toBe(false);
    expect(templateChanged(res({}), { [TEMPLATE_ANNOTATION]: templateDigest(template)! })).toBe(true);
  });
});
