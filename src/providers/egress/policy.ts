import { embeddedIpv4, inCidr, parseCidr, parseIp, type Cidr, type IpBytes } from './addresses.js';

/**
 * Where the operator may connect. Every resource names URLs (and providers hand back more:
 * activation links, download links, discovered endpoints, manage URLs), and the operator runs
 * with one identity inside the cluster: without a policy a namespace user could aim it at the
 * cloud metadata service, the API server or any pod, and read what answered in status.
 *
 * Checked twice: on the URL before anything is sent (scheme, allowlist, a literal address), and
 * on every address DNS returns, right before the socket connects to exactly that address
 * (connector.ts), so odd spellings and DNS rebinding meet the same rules. Deny always wins over
 * the allowlist.
 */
export type EgressRule =
  | 'cloud-metadata'
  | 'link-local'
  | 'loopback'
  | 'unspecified'
  | 'broadcast'
  | 'multicast'
  | 'api-server'
  | 'denied-cidr'
  | 'not-allowed-host'
  | 'insecure-http'
  | 'unsupported-scheme'
  | 'unresolvable';

/** What a refusal says about the rule: the policy's own words, never anything learned from the target. */
const PHRASE: Record<EgressRule, string> = {
  'cloud-metadata': 'it is a cloud metadata address',
  'link-local': 'it is a link-local address',
  loopback: 'it is a loopback address (allowed only when the operator runs with --allow-loopback-egress, for local development)',
  unspecified: 'it is an unspecified address',
  broadcast: 'it is the broadcast address',
  multicast: 'it is a multicast address',
  'api-server': "it is the cluster's API server",
  'denied-cidr': 'it is in a range the operator is configured to deny (egress.deniedCidrs)',
  'not-allowed-host': 'the host is not in the operator\'s allowlist (egress.allowedHosts)',
  'insecure-http': 'plain http:// is refused (allowed only when the resource sets allowInsecureHttp and the operator runs with --allow-insecure-http)',
  'unsupported-scheme': 'only https:// URLs are supported',
  unresolvable: 'its address could not be judged',
};

/**
 * A call the policy refused before any connection was made. The message names the host and the
 * rule only: not the resolved address, not the path or query (a capability URL's path is a secret).
 */
export class EgressDenied extends Error {
  constructor(
    readonly host: string,
    readonly rule: EgressRule,
    /** the resolved address, for the operator's own logs; never in the message */
    readonly address?: string,
  ) {
    super(`egress to ${host} refused: ${PHRASE[rule]}`);
    this.name = 'EgressDenied';
  }
}

export interface EgressPolicyOptions {
  /** loopback (127.0.0.0/8, ::1) for local development (provider simulators on 127.0.0.1) */
  allowLoopback?: boolean;
  /** the operator's half of the plain-http consent (the resource's half comes per request) */
  allowInsecureHttp?: boolean;
  /** extra ranges to refuse (pod, service, node networks), e.g. 10.0.0.0/8 */
  deniedCidrs?: readonly string[];
  /** when non-empty, only these hosts are reached: `api.example.com`, `*.example.com` (any depth), or an IP literal */
  allowedHosts?: readonly string[];
}

export interface Endpoint {
  /** an IP literal or a host name */
  host: string;
  port: number;
}

interface Range {
  rule: EgressRule;
  cidr: Cidr;
}

const ranges = (rule: EgressRule, ...cidrs: string[]): Range[] => cidrs.map((c) => ({ rule, cidr: parseCidr(c) }));

// First match names the rule, so the specific ranges come before the broad ones.
const BUILT_IN: readonly Range[] = [
  // AWS/GCP/Azure/DigitalOcean/OpenStack 169.254.169.254, AWS ECS task metadata 169.254.170.2, Tencent
  // 169.254.0.23, AWS IPv6 IMDS fd00:ec2::254, Alibaba 100.100.100.200, Azure WireServer 168.63.129.16,
  // Oracle Cloud Classic 192.0.0.192
  ...ranges('cloud-metadata', '169.254.169.254', '169.254.170.2', '169.254.0.23', 'fd00:ec2::254', '100.100.100.200', '168.63.129.16', '192.0.0.192'),
  ...ranges('unspecified', '0.0.0.0/8', '::/128'), // Linux connects 0.0.0.0 and :: to the local host
  ...ranges('broadcast', '255.255.255.255/32'),
  ...ranges('multicast', '224.0.0.0/4', 'ff00::/8'),
  ...ranges('link-local', '169.254.0.0/16', 'fe80::/10'),
];
const LOOPBACK = ranges('loopback', '127.0.0.0/8', '::1/128');

export class EgressPolicy {
  readonly allowLoopback: boolean;
  readonly allowInsecureHttp: boolean;
  private readonly denied: readonly Range[];
  private readonly allowed: ReadonlyArray<(host: string) => boolean>;
  private apiServerAddresses: Array<{ bytes: IpBytes; port: number }> = [];
  private apiServerNames: Endpoint[] = [];

  constructor(opts: EgressPolicyOptions = {}) {
    this.allowLoopback = opts.allowLoopback === true;
    this.allowInsecureHttp = opts.allowInsecureHttp === true;
    this.denied = [...BUILT_IN, ...(this.allowLoopback ? [] : LOOPBACK), ...(opts.deniedCidrs ?? []).map((c) => ({ rule: 'denied-cidr' as const, cidr: parseCidr(c) }))];
    this.allowed = (opts.allowedHosts ?? []).map(hostMatcher);
  }

  /** The cluster's API server endpoints (address or name, and port): refused even where loopback is allowed. */
  setApiServerEndpoints(endpoints: readonly Endpoint[]): void {
    const addresses: Array<{ bytes: IpBytes; port: number }> = [];
    const names: Endpoint[] = [];
    for (const e of endpoints) {
      const bytes = parseIp(e.host);
      if (bytes) addresses.push({ bytes: embeddedIpv4(bytes) ?? bytes, port: e.port });
      else names.push({ host: normalizeHost(e.host), port: e.port });
    }
    this.apiServerAddresses = addresses;
    this.apiServerNames = names;
  }

  /**
   * Before anything is sent: the scheme (https, or http with both consents), the allowlist, and
   * the address when the URL names one. `resourceAllowsInsecureHttp` is the resource's consent.
   */
  checkUrl(url: URL, resourceAllowsInsecureHttp = false): EgressDenied | undefined {
    const host = url.hostname;
    if (url.protocol === 'http:') {
      if (!(this.allowInsecureHttp && resourceAllowsInsecureHttp)) return new EgressDenied(url.host, 'insecure-http');
    } else if (url.protocol !== 'https:') {
      return new EgressDenied(url.host, 'unsupported-scheme');
    }
    const name = normalizeHost(host);
    if (this.allowed.length > 0 && !this.allowed.some((m) => m(name))) return new EgressDenied(url.host, 'not-allowed-host');
    const port = portOf(url);
    if (this.apiServerNames.some((e) => e.host === name && e.port === port)) return new EgressDenied(url.host, 'api-server');
    if (parseIp(host)) return this.checkAddress(url.host, host, port);
    return undefined;
  }

  /** One address the socket would connect to (after DNS), for the URL host `host`. */
  checkAddress(host: string, address: string, port: number): EgressDenied | undefined {
    const bytes = parseIp(address);
    if (!bytes) return new EgressDenied(host, 'unresolvable', address);
    const v4 = embeddedIpv4(bytes);
    for (const b of v4 ? [bytes, v4] : [bytes]) {
      const hit = this.denied.find((r) => inCidr(b, r.cidr));
      if (hit) return new EgressDenied(host, hit.rule, address);
      if (this.apiServerAddresses.some((a) => a.port === port && inCidr(b, { bytes: a.bytes, prefix: a.bytes.length * 8 }))) {
        return new EgressDenied(host, 'api-server', address);
      }
    }
    return undefined;
  }
}

export function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'http:' ? 80 : 443;
}

/** Lower case, no trailing dot, no brackets: `API.Example.com.` and `api.example.com` are one host. */
function normalizeHost(host: string): string {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

const HOST_PATTERN = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Throws on a pattern that is neither a host name (optionally `*.`-prefixed) nor an IP literal. */
export function hostMatcher(pattern: string): (host: string) => boolean {
  const p = normalizeHost(pattern.trim());
  const ip = parseIp(p);
  if (ip) {
    return (host) => {
      const b = parseIp(host);
      return b !== undefined && b.length === ip.length && b.every((x, i) => x === ip[i]);
    };
  }
  if (!HOST_PATTERN.test(p)) throw new Error(`not a host pattern: ${JSON.stringify(pattern)} (use api.example.com, *.example.com or an IP address)`);
  if (p.startsWith('*.')) {
    const suffix = p.slice(1);
    return (host) => host.endsWith(suffix) && host.length > suffix.length;
  }
  return (host) => host === p;
}
