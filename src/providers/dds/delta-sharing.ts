import { z } from 'zod';
import { systemClock, type Clock } from '../../schedule/clock.js';
import { ProviderError } from '../errors.js';
import { type HttpClient, type ObservedCall, failFor, parseBody, send } from '../http.js';

/**
 * Proves a bearer token works with the cheapest Delta Sharing call,
 * `GET {endpoint}/shares?maxResults=1` (docs/providers.md "Delta Sharing: verifying a token").
 */

const WHERE = { provider: 'dds', call: 'verify-shares' } as const;

/** `items` may be empty or missing; share objects carry more fields than we read. */
const ListSharesResponse = z.object({
  items: z.array(z.object({ name: z.string() })).nullish(),
  nextPageToken: z.string().nullish(),
});

/** Delta Sharing error body. */
const ErrorBody = z.object({ errorCode: z.string().optional() });

export interface ShareAccess {
  /** shares seen on the first page (at most 1) */
  sharesVisible: number;
}

export interface VerifyCall {
  http: HttpClient;
  /** for Retry-After dates; default the system clock */
  clock?: Clock;
  observe?: (o: ObservedCall) => void;
}

/** 200 → ok; 401/403 → Unauthorized (the token is dead or not allowed); others by status. */
export async function verifyShareAccess(
  c: VerifyCall,
  profile: { endpoint: string; bearerToken?: string | undefined },
): Promise<ShareAccess> {
  if (profile.bearerToken === undefined) throw new ProviderError('Invalid', `${WHERE.call}: the profile has no bearer token to check`, { ...WHERE });
  // Delta Sharing clients strip a trailing '/' from the endpoint (docs/providers.md "Delta Sharing profiles").
  const url = `${profile.endpoint.replace(/\/+$/, '')}/shares?maxResults=1`;
  const res = await send(
    c.http,
    { method: 'GET', url, headers: { authorization: `Bearer ${profile.bearerToken}` } },
    { ...WHERE, observe: c.observe },
  );
  if (res.status !== 200) {
    let code: string | undefined;
    try {
      code = ErrorBody.parse(JSON.parse(res.text)).errorCode;
    } catch {
      code = undefined;
    }
    failFor(res, WHERE, (c.clock ?? systemClock).now().getTime(), code);
  }
  const body = parseBody(res, ListSharesResponse, WHERE);
  return { sharesVisible: body.items?.length ?? 0 };
}
