import type { TemplateHelper } from '../api/index.js';

/**
 * The template helpers (spec.target.template, as Mustache sections: {{#base64}}…{{/base64}}).
 * Each gets the text its section rendered and returns text; none reads anything else. A helper
 * that cannot do its job throws a HelperError whose message never quotes its input: the input
 * is a credential more often than not.
 */
export class HelperError extends Error {
  override readonly name = 'HelperError';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
// Standard or URL-safe alphabet (JWT segments are URL-safe and unpadded), padding optional.
const BASE64 = /^(?:[A-Za-z0-9+/]|[A-Za-z0-9_-])*={0,2}$/;

function base64Decode(text: string): string {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact) || /[+/]/.test(compact) && /[-_]/.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) {
    throw new HelperError('base64Decode: the text is not base64');
  }
  try {
    return utf8.decode(Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64'));
  } catch {
    throw new HelperError('base64Decode: the decoded bytes are not UTF-8 text (a Secret value written from a template must be text)');
  }
}

export const HELPERS: Readonly<Record<TemplateHelper, (text: string) => string>> = {
  base64: (text) => Buffer.from(text, 'utf8').toString('base64'),
  base64Decode,
  json: (text) => JSON.stringify(text),
  upper: (text) => text.toUpperCase(),
  lower: (text) => text.toLowerCase(),
};

export const isHelper = (name: string): name is TemplateHelper => Object.hasOwn(HELPERS, name);
