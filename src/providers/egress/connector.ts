import { Resolver as DnsResolver, lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { buildConnector as BuildConnector, Dispatcher } from 'undici';
import buildConnectorModule from 'undici/lib/core/connect.js';
import AgentModule from 'undici/lib/dispatcher/agent.js';
import Dispatcher1WrapperModule from 'undici/lib/dispatcher/dispatcher1-wrapper.js';
import { EgressDenied, type EgressPolicy } from './policy.js';

/**
 * The connect step of every outbound HTTP connection: resolve the host, judge every address it
 * resolved to, then connect to exactly a judged address (the TLS name stays the host's, so
 * certificates are checked as usual). Resolving once and connecting to that answer is what closes
 * DNS rebinding: there is no second lookup between the check and the connect.
 */
export type Resolver = (hostname: string) => Promise<ReadonlyArray<{ address: string }>>;

/** getaddrinfo, as Node's own connect uses it (/etc/hosts, the pod's resolv.conf). */
export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, order: 'verbatim' });

/** A resolver asking these DNS servers directly (`host:port`), A and AAAA. */
export function dnsResolver(servers: string[]): Resolver {
  const dns = new DnsResolver();
  dns.setServers(servers);
  return async (hostname) => {
    const [v4, v6] = await Promise.allSettled([dns.resolve4(hostname), dns.resolve6(hostname)]);
    const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (addresses.length === 0) throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address }));
  };
}

export interface EgressAgentOptions {
  policy: EgressPolicy;
  resolver?: Resolver;
  connectTimeoutMs?: number;
  /** trust roots to use instead of the system ones (tests with a self-signed provider) */
  ca?: string | Buffer;
  /** every refusal, for logs and metrics (the call also fails with it) */
  onDenied?: (denied: EgressDenied) => void;
  /** every connection attempt to a judged address (tests count them) */
  onConnect?: (target: { host: string; address: string; port: number }) => void;
}

// undici's connector and agent, not its whole index: the index also loads fetch, caches and
// WebSocket (about 11 MiB more resident memory; the operator's budget is counted in MiB).
// Static imports by path, not require(): the bundle (scripts/bundle.mjs) must see them.
const buildConnector = buildConnectorModule as typeof BuildConnector;
const Agent = AgentModule as new (opts: object) => Dispatcher;
// Node's own fetch is built on an older undici whose handlers speak dispatcher API 1; this
// adapter (the one undici's setGlobalDispatcher installs for it) lets it drive our agent.
const Dispatcher1Wrapper = Dispatcher1WrapperModule as new (d: Dispatcher) => Dispatcher;

type ConnectOptions = BuildConnector.Options;
type Callback = BuildConnector.Callback;

/**
 * A dispatcher for Node's fetch (`fetch(url, { dispatcher })`) whose every connection passes the
 * policy. It follows no redirects itself; fetch is asked for `redirect: 'manual'`.
 */
export function egressAgent(opts: EgressAgentOptions): Dispatcher {
  const resolver = opts.resolver ?? systemResolver;
  const base = buildConnector({
    // HTTP/1.1 only, like Node's own fetch: the simulators and every vendor speak it
    allowH2: false,
    timeout: opts.connectTimeoutMs ?? 10_000,
    ...(opts.ca ? { ca: opts.ca } : {}),
  });

  const deny = (d: EgressDenied, callback: Callback) => {
    opts.onDenied?.(d);
    callback(d, null);
  };

  function connect(o: ConnectOptions, callback: Callback): void {
    const hostname = o.hostname;
    const port = Number(o.port) || (o.protocol === 'https:' ? 443 : 80);
    const shownHost = o.host ?? hostname;
    if (isIP(hostname)) {
      const denied = opts.policy.checkAddress(shownHost, hostname, port);
      if (denied) return deny(denied, callback);
      opts.onConnect?.({ host: shownHost, address: hostname, port });
      base(o, callback);
      return;
    }
    resolver(hostname).then(
      (answers) => {
        if (answers.length === 0) return deny(new EgressDenied(shownHost, 'unresolvable'), callback);
        // one denied answer refuses the host: which answer a later connect would use is not ours to choose
        for (const a of answers) {
          const denied = opts.policy.checkAddress(shownHost, a.address, port);
          if (denied) return deny(denied, callback);
        }
        tryEach(answers.map((a) => a.address), 0);
      },
      (e: unknown) => callback(e instanceof Error ? e : new Error('DNS lookup failed'), null),
    );

    // The judged addresses in DNS order, the next one when a connect fails (what happy eyeballs
    // would reach too, without a lookup of its own).
    function tryEach(addresses: string[], i: number): void {
      const address = addresses[i]!;
      opts.onConnect?.({ host: shownHost, address, port });
      // TLS keeps the host name for SNI and the certificate check; the socket goes to `address`
      const target: ConnectOptions = { ...o, hostname: address, ...(o.protocol === 'https:' ? { servername: hostname } : {}) };
      base(target, (...result) => {
        if (result[0] && i + 1 < addresses.length) return tryEach(addresses, i + 1);
        callback(...result);
      });
    }
  }

  return new Dispatcher1Wrapper(new Agent({ connect }));
}

/**
 * Makes `dispatcher` the one every fetch in the process uses when it names none: a library that
 * calls fetch itself, past our HttpClient, still meets the policy at connect time.
 */
export async function installGlobalDispatcher(dispatcher: Dispatcher): Promise<void> {
  // loaded here, not above: loading it installs a default global dispatcher of its own
  const { setGlobalDispatcher } = (await import('undici/lib/global.js')).default as { setGlobalDispatcher(d: Dispatcher): void };
  setGlobalDispatcher(dispatcher);
}
