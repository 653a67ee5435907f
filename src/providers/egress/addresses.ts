import { isIP } from 'node:net';

/**
 * IP addresses as bytes (4 or 16), CIDR ranges, and the IPv4 address hidden inside some IPv6
 * forms. Parsed here rather than compared as text: one address has many spellings
 * (`::ffff:127.0.0.1`, `::ffff:7f00:1`, `0:0:0:0:0:ffff:7f00:1`), and the egress policy must
 * judge the address the socket really reaches.
 */
export type IpBytes = Uint8Array;

/** The address's bytes, or undefined when `text` is no IP literal. A zone (`%eth0`) and brackets are ignored. */
export function parseIp(text: string): IpBytes | undefined {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const family = isIP(s);
  if (family === 4) return Uint8Array.from(s.split('.').map(Number));
  if (family === 6) return parseIpv6(s);
  return undefined;
}

function parseIpv6(s: string): IpBytes {
  const out = new Uint8Array(16);
  // a trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups
  let text = s;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  let v4: number[] | undefined;
  if (tail.includes('.')) {
    v4 = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const front = groups(head);
  const back = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

export interface Cidr {
  bytes: IpBytes;
  prefix: number;
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (`/32` or `/128` implied). Throws on anything else. */
export function parseCidr(text: string): Cidr {
  const [addr, bits, extra] = text.trim().split('/');
  const bytes = addr === undefined ? undefined : parseIp(addr);
  if (!bytes || extra !== undefined) throw new Error(`not a CIDR range: ${JSON.stringify(text)}`);
  const max = bytes.length * 8;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new Error(`not a CIDR range: ${JSON.stringify(text)} (prefix must be 0-${max})`);
  return { bytes, prefix };
}

export function inCidr(b: IpBytes, c: Cidr): boolean {
  if (b.length !== c.bytes.length) return false;
  const whole = c.prefix >> 3;
  for (let i = 0; i < whole; i++) if (b[i] !== c.bytes[i]) return false;
  const rest = c.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (b[whole]! & mask) === (c.bytes[whole]! & mask);
}

const EMBEDDING: ReadonlyArray<{ range: Cidr; offset: number }> = [
  { range: parseCidr('::ffff:0:0/96'), offset: 12 }, //  IPv4-mapped: the kernel connects to the IPv4 address
  { range: parseCidr('::/96'), offset: 12 }, //           IPv4-compatible (deprecated), still routed by some stacks
  { range: parseCidr('64:ff9b::/96'), offset: 12 }, //    NAT64 well-known prefix: the gateway connects to the IPv4 address
  { range: parseCidr('2002::/16'), offset: 2 }, //        6to4: the relay connects to the IPv4 address
];

/**
 * The IPv4 address an IPv6 address stands for, when it is one of the forms that reach an IPv4
 * host (mapped, compatible, NAT64, 6to4). `::` and `::1` are themselves, not 0.0.0.0 / 0.0.0.1.
 */
export function embeddedIpv4(b: IpBytes): IpBytes | undefined {
  if (b.length !== 16) return undefined;
  for (const { range, offset } of EMBEDDING) {
    if (!inCidr(b, range)) continue;
    if (range.prefix === 96 && offset === 12 && range.bytes[10] === 0 && b.subarray(0, 12).every((x) => x === 0)) {
      // ::/96 also holds :: and ::1, which are IPv6's own unspecified and loopback addresses
      if (b[12] === 0 && b[13] === 0 && b[14] === 0 && (b[15] === 0 || b[15] === 1)) return undefined;
    }
    return b.slice(offset, offset + 4);
  }
  return undefined;
}
