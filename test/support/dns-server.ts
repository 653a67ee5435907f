import { createSocket, type RemoteInfo } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import { parseIp } from '../../src/providers/egress/addresses.js';

/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP, A and AAAA only), so tests can make a host
 * name really resolve to an address (a denied one, or one that changes between two lookups):
 * the operator's resolver is pointed at it (OperatorDeps.egress.resolver = dnsResolver([server])),
 * and every lookup is a real DNS query over the loopback network, answered from `records`.
 */
export interface TestDnsServer {
  /** host:port, for dns.Resolver#setServers */
  server: string;
  /** name (lower case, no trailing dot) → addresses; change it any time (rebinding) */
  records: Map<string, string[]>;
  /** every name asked for, in order */
  queries: string[];
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;

export async function startDnsServer(records: Record<string, string[]> = {}): Promise<TestDnsServer> {
  const socket = createSocket('udp4');
  const table = new Map(Object.entries(records));
  const queries: string[] = [];

  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const q = readQuestion(msg);
    if (!q) return;
    queries.push(q.name);
    const all = table.get(q.name);
    const answers = (all ?? []).filter((a) => (q.type === TYPE_A ? isIPv4(a) : q.type === TYPE_AAAA ? isIPv6(a) : false));
    socket.send(reply(msg, q.end, all === undefined ? 3 : 0, q.type, answers), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  return {
    server: `127.0.0.1:${port}`,
    records: table,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function readQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += 1 + len;
  }
  const type = msg.readUInt16BE(i + 1);
  return { name: labels.join('.').toLowerCase(), type, end: i + 5 };
}

function reply(query: Buffer, questionEnd: number, rcode: number, type: number, answers: string[]): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  header.writeUInt16BE(0x8400 | 0x0100 | (query.readUInt16BE(2) & 0x0100) | rcode, 2); // QR, AA, RD echoed
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const parts = [header, query.subarray(12, questionEnd)];
  for (const a of answers) {
    const rdata = Buffer.from(parseIp(a)!);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(0, 6); // TTL 0: every lookup asks again (rebinding tests rely on it)
    rr.writeUInt16BE(rdata.length, 10);
    parts.push(rr, rdata);
  }
  return Buffer.concat(parts);
}
