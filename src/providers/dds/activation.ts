import { z } from 'zod';
import { ProviderError, isProviderError, kindForStatus, parseRetryAfter } from '../errors.js';
import { type HttpClient, MAX_CREDENTIAL_CHARS, MAX_URL_CHARS, type ObservedCall, parseBody, send } from '../http.js';
import { parseTimestamp } from './dds-api.js';

/**
 * Databricks open-sharing activation: the DDS `activation_link` resolves to a one-time
 * download of the Delta Sharing profile (../../../../shared/research/providers.md §1.5–1.6).
 * The link and the activation token in it are bearer credentials until used: they never
 * appear in an error message.
 */

const WHERE = { provider: 'dds', call: 'activate' } as const;

/** A consumed (or expired, or unknown) link: only a new rotation gives a new one. */
export const ACTIVATION_CONSUMED = 'ActivationConsumed';
/** 200 arrived but its body was unusable; the one download may already be spent. */
// (codes stay under 24 characters: sanitize() redacts longer runs as token-like)
export const ACTIVATION_UNREADABLE = 'ActivationUnreadable';

const HTML_PAGE = /\/delta_sharing\/retrieve_config\.html$/;
const API_ROUTE = /\/api\/2\.[01]\/unity-catalog\/public\/data_sharing_activation\/[^/]+$/;

/**
 * The JSON route for an activation link. Databricks hands out the HTML page
 * `https://host/delta_sharing/retrieve_config.html?<token>`; the same token at
 * `/api/2.1/unity-catalog/public/data_sharing_activation/<token>` returns the profile.
 */
export function activationApiUrl(activationLink: string): string {
  let url: URL;
  try {
    url = new URL(activationLink.trim());
  } catch {
    throw invalidLink('is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalidLink('is not an http(s) URL');
  if (API_ROUTE.test(url.pathname)) return url.toString();
  if (HTML_PAGE.test(url.pathname)) {
    const token = url.search.replace(/^\?/, '');
    if (token === '') throw invalidLink('has no activation token');
    const prefix = url.pathname.replace(HTML_PAGE, '');
    return `${url.origin}${prefix}/api/2.1/unity-catalog/public/data_sharing_activation/${token}`;
  }
  throw invalidLink('has an unrecognised form');
}

function invalidLink(why: string): ProviderError {
  return new ProviderError('Invalid', `activate: activation link ${why}`, { ...WHERE, code: 'InvalidActivationLink' });
}

/**
 * Normalised to ISO-8601, the form the Delta Sharing protocol and its clients read (the
 * Python client treats anything else as "never expires"). Databricks' SDK documents
 * epoch ms. An unreadable value is kept as given: the download cannot be repeated, so
 * losing the credential over one odd field would be worse.
 */
const ExpirationTime = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((v) => (v === null || v === undefined ? undefined : (parseTimestamp(v)?.toISOString() ?? String(v))));

/**
 * The profile (`config.share`). Unknown fields (e.g. version 2's `type`) are kept so the
 * file written for consumers is the one Databricks served.
 */
export const DeltaSharingProfileSchema = z.looseObject({
  shareCredentialsVersion: z
    .union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)])
    .default(1),
  endpoint: z.url({ protocol: /^https?$/ }).max(MAX_URL_CHARS),
  bearerToken: z.string().min(1).max(MAX_CREDENTIAL_CHARS),
  expirationTime: ExpirationTime,
});

export type DeltaSharingProfile = z.output<typeof DeltaSharingProfileSchema>;

export interface ActivationCall {
  http: HttpClient;
  observe?: (o: ObservedCall) => void;
}

/** Downloads the profile. Public endpoint: no credential of ours is sent to it. */
export async function downloadProfile(c: ActivationCall, activationLink: string): Promise<DeltaSharingProfile> {
  const url = activationApiUrl(activationLink);
  const res = await send(c.http, { method: 'GET', url }, { ...WHERE, observe: c.observe }).catch((e: unknown) => {
    throw isProviderError(e) && e.kind === 'BadResponse' ? unreadable(e) : e;
  });
  if (res.status !== 200) {
    const kind = kindForStatus(res.status);
    if (kind === 'Retryable' || kind === 'RateLimited') {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
      throw new ProviderError(kind, `activate: HTTP ${res.status}`, {
        ...WHERE,
        status: res.status,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    // Databricks does not document what a second download returns; any other refusal
    // means this link will not work again (§1.5).
    throw new ProviderError('NotFound', `activate: HTTP ${res.status} (activation link already used, expired or unknown)`, {
      ...WHERE,
      status: res.status,
      code: ACTIVATION_CONSUMED,
    });
  }
  try {
    return parseBody(res, DeltaSharingProfileSchema, WHERE);
  } catch (e) {
    throw isProviderError(e) ? unreadable(e) : e;
  }
}

function unreadable(e: ProviderError): ProviderError {
  return new ProviderError('BadResponse', e.message, {
    ...WHERE,
    ...(e.status === undefined ? {} : { status: e.status }),
    code: ACTIVATION_UNREADABLE,
  });
}

/** When the profile's bearer token expires, if it says. */
export function profileExpiry(profile: DeltaSharingProfile): Date | undefined {
  return parseTimestamp(profile.expirationTime);
}
