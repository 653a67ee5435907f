import type { CustomFetch, FetchBody } from 'openid-client';
import { send, type HttpClient, type HttpRequest, type ObservedCall } from '../http.js';

export interface FetchVia {
  http: HttpClient;
  provider: string;
  call: string;
  observe?: (o: ObservedCall) => void;
  /** the resource's consent to plain http, for the configured URLs and every discovered one */
  allowInsecureHttp?: boolean;
  /** rewrites (or reads) a 2xx JSON body before openid-client sees it */
  transformJson?: (body: Record<string, unknown>) => void | Promise<void>;
}

const METHODS: ReadonlySet<string> = new Set<HttpRequest['method']>(['GET', 'POST', 'PATCH', 'PUT', 'DELETE']);
// statuses whose Response may not have a body (fetch spec "null body status")
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * openid-client's fetch hook, routed through our HttpClient: the same timeouts, body cap,
 * metrics and transport-error kinds as every other provider, and tests can swap it.
 * openid-client's own abort signal is ignored; the HttpClient's timeout applies.
 */
export function fetchVia(opts: FetchVia): CustomFetch {
  return async (url, init) => {
    if (!METHODS.has(init.method)) throw new TypeError(`unsupported method ${init.method}`);
    const req: HttpRequest = {
      method: init.method as HttpRequest['method'],
      url,
      headers: init.headers,
      ...bodyOf(init.body),
      ...(opts.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
    };
    const res = await send(opts.http, req, { provider: opts.provider, call: opts.call, ...(opts.observe ? { observe: opts.observe } : {}) });
    let text = res.text;
    if (opts.transformJson && res.status >= 200 && res.status < 300) text = await rewriteJson(text, opts.transformJson);
    return new Response(NULL_BODY.has(res.status) ? null : text, { status: res.status, headers: res.headers });
  };
}

function bodyOf(body: FetchBody): Pick<HttpRequest, 'body'> {
  if (body === undefined || body === null) return {};
  if (typeof body === 'string' || body instanceof URLSearchParams) return { body };
  if (body instanceof ArrayBuffer) return { body: Buffer.from(new Uint8Array(body)).toString('utf8') };
  if (body instanceof Uint8Array) return { body: Buffer.from(body).toString('utf8') };
  // openid-client only streams bodies for features we do not use
  throw new TypeError('streamed request bodies are not supported');
}

async function rewriteJson(text: string, transform: (body: Record<string, unknown>) => void | Promise<void>): Promise<string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return text; // let openid-client report the malformed body
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return text;
  await transform(json as Record<string, unknown>);
  return JSON.stringify(json);
}
