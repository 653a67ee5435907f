import { describe, expect, it } from 'vitest';
import { embeddedIpv4, inCidr, parseCidr, parseIp } from '../../../../src/providers/egress/addresses.js';
import { EgressPolicy, hostMatcher } from '../../../../src/providers/egress/policy.js';

const ruleOf = (p: EgressPolicy, url: string, insecure = true) => p.checkUrl(new URL(url), insecure)?.rule;

describe('addresses', () => {
  it('parses every spelling of an address to the same bytes', () => {
    const mapped = [...parseIp('::ffff:127.0.0.1')!];
    expect([...parseIp('::ffff:7f00:1')!]).toEqual(mapped);
    expect([...parseIp('0:0:0:0:0:ffff:7f00:0001')!]).toEqual(mapped);
    expect([...parseIp('[::ffff:127.0.0.1]')!]).toEqual(mapped);
    expect([...parseIp('fe80::1%eth0')!]).toEqual([...parseIp('fe80::1')!]);
    expect(parseIp('example.com')).toBeUndefined();
    expect(parseIp('2130706433')).toBeUndefined(); // a bare number is no IP literal; URL parsing turns it into 127.0.0.1
  });

  it('matches CIDR ranges bit by bit', () => {
    expect(inCidr(parseIp('10.1.2.3')!, parseCidr('10.0.0.0/8'))).toBe(true);
    expect(inCidr(parseIp('11.1.2.3')!, parseCidr('10.0.0.0/8'))).toBe(false);
    expect(inCidr(parseIp('172.31.255.255')!, parseCidr('172.16.0.0/12'))).toBe(true);
    expect(inCidr(parseIp('172.32.0.0')!, parseCidr('172.16.0.0/12'))).toBe(false);
    expect(inCidr(parseIp('fd12::1')!, parseCidr('fd00::/8'))).toBe(true);
    expect(inCidr(parseIp('10.0.0.1')!, parseCidr('::/0'))).toBe(false); // families never mix
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/prefix/);
    expect(() => parseCidr('example.com/8')).toThrow(/CIDR/);
  });

  it('finds the IPv4 address inside mapped, compatible, NAT64 and 6to4 forms, but not in :: or ::1', () => {
    const v4 = (s: string) => embeddedIpv4(parseIp(s)!)?.join('.');
    expect(v4('::ffff:169.254.169.254')).toBe('169.254.169.254');
    expect(v4('::a9fe:a9fe')).toBe('169.254.169.254');
    expect(v4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(v4('2002:a9fe:a9fe::1')).toBe('169.254.169.254');
    expect(v4('::')).toBeUndefined();
    expect(v4('::1')).toBeUndefined();
    expect(v4('2001:db8::1')).toBeUndefined();
  });
});

describe('egress policy', () => {
  const strict = new EgressPolicy({ allowInsecureHttp: true });

  it('refuses link-local, cloud metadata, unspecified, broadcast and multicast addresses, in every spelling', () => {
    const cases: Array<[string, string]> = [
      ['http://169.254.169.254/latest/meta-data/', 'cloud-metadata'],
      ['http://[fd00:ec2::254]/', 'cloud-metadata'],
      ['http://100.100.100.200/', 'cloud-metadata'],
      ['http://168.63.129.16/', 'cloud-metadata'],
      ['http://[::ffff:169.254.169.254]/', 'cloud-metadata'],
      ['http://[::ffff:a9fe:a9fe]/', 'cloud-metadata'],
      ['http://2852039166/', 'cloud-metadata'], // decimal 169.254.169.254
      ['http://0xa9.0xfe.0xa9.0xfe/', 'cloud-metadata'],
      ['http://0251.0376.0251.0376/', 'cloud-metadata'], // octal
      ['http://[64:ff9b::a9fe:a9fe]/', 'cloud-metadata'],
      ['http://169.254.1.1/', 'link-local'],
      ['http://[fe80::1]/', 'link-local'],
      ['http://0.0.0.0:8080/', 'unspecified'],
      ['http://0/', 'unspecified'],
      ['http://[::]/', 'unspecified'],
      ['http://255.255.255.255/', 'broadcast'],
      ['http://224.0.0.1/', 'multicast'],
      ['http://[ff02::1]/', 'multicast'],
    ];
    for (const [url, rule] of cases) expect(ruleOf(strict, url), url).toBe(rule);
  });

  it('refuses loopback in every spelling unless it runs for local development', () => {
    for (const url of ['http://127.0.0.1:8081/', 'http://2130706433/', 'http://0x7f.1/', 'http://127.1/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/']) {
      expect(ruleOf(strict, url), url).toBe('loopback');
    }
    const dev = new EgressPolicy({ allowInsecureHttp: true, allowLoopback: true });
    expect(ruleOf(dev, 'http://127.0.0.1:8081/')).toBeUndefined();
    expect(ruleOf(dev, 'http://[::ffff:127.0.0.1]/')).toBeUndefined();
    // the local-development flag never opens the metadata service or link-local
    expect(ruleOf(dev, 'http://169.254.169.254/')).toBe('cloud-metadata');
  });

  it("refuses the API server's addresses and port, whatever the spelling, but not its other ports", () => {
    const p = new EgressPolicy({ allowInsecureHttp: true, allowLoopback: true });
    p.setApiServerEndpoints([
      { host: '127.0.0.1', port: 6443 },
      { host: '10.96.0.1', port: 443 },
      { host: 'api.cluster.internal', port: 6443 },
    ]);
    expect(ruleOf(p, 'https://127.0.0.1:6443/api')).toBe('api-server');
    expect(ruleOf(p, 'https://[::ffff:127.0.0.1]:6443/')).toBe('api-server');
    expect(ruleOf(p, 'https://2130706433:6443/')).toBe('api-server');
    expect(ruleOf(p, 'https://10.96.0.1/')).toBe('api-server');
    expect(ruleOf(p, 'https://API.cluster.internal.:6443/')).toBe('api-server');
    expect(ruleOf(p, 'https://127.0.0.1:18081/')).toBeUndefined();
    // after DNS, at connect time
    expect(p.checkAddress('kubernetes.default.svc', '10.96.0.1', 443)?.rule).toBe('api-server');
    expect(p.checkAddress('x', '::ffff:10.96.0.1', 443)?.rule).toBe('api-server');
  });

  it('adds the configured ranges, and deny wins over the allowlist', () => {
    const p = new EgressPolicy({ deniedCidrs: ['10.0.0.0/8', 'fd00::/8'], allowedHosts: ['10.1.2.3', '*.example.com'] });
    expect(ruleOf(p, 'https://10.1.2.3/')).toBe('denied-cidr');
    expect(ruleOf(p, 'https://[::ffff:10.9.9.9]/')).toBe('not-allowed-host');
    expect(p.checkAddress('api.example.com', 'fd12::5', 443)?.rule).toBe('denied-cidr');
    expect(p.checkAddress('api.example.com', '203.0.113.7', 443)).toBeUndefined();
  });

  it('with an allowlist, reaches nothing else', () => {
    const p = new EgressPolicy({ allowedHosts: ['api.example.com', '*.zalando.com'] });
    expect(ruleOf(p, 'https://api.example.com/x')).toBeUndefined();
    expect(ruleOf(p, 'https://API.EXAMPLE.COM./x')).toBeUndefined();
    expect(ruleOf(p, 'https://api-sandbox.merchants.zalando.com/')).toBeUndefined();
    expect(ruleOf(p, 'https://zalando.com/')).toBe('not-allowed-host');
    expect(ruleOf(p, 'https://evilzalando.com/')).toBe('not-allowed-host');
    expect(ruleOf(p, 'https://example.com/')).toBe('not-allowed-host');
    expect(ruleOf(p, 'https://api.example.com.evil.net/')).toBe('not-allowed-host');
    expect(ruleOf(p, 'https://203.0.113.7/')).toBe('not-allowed-host');
  });

  it('holds every URL to https unless the resource and the operator both allow http', () => {
    const both = new EgressPolicy({ allowInsecureHttp: true });
    const operatorOnly = new EgressPolicy();
    expect(ruleOf(both, 'http://api.example.com/', true)).toBeUndefined();
    expect(ruleOf(both, 'http://api.example.com/', false)).toBe('insecure-http');
    expect(ruleOf(operatorOnly, 'http://api.example.com/', true)).toBe('insecure-http');
    expect(ruleOf(both, 'ftp://api.example.com/')).toBe('unsupported-scheme');
    expect(ruleOf(both, 'file:///etc/passwd')).toBe('unsupported-scheme');
  });

  it('names the host and the rule only: no path, query or resolved address', () => {
    const d = strict.checkUrl(new URL('https://169.254.169.254/latest/api/token?secret=s3cr3t'), false)!;
    expect(d.message).toBe('egress to 169.254.169.254 refused: it is a cloud metadata address');
    const after = new EgressPolicy().checkAddress('metadata.example.com', '169.254.169.254', 80)!;
    expect(after.message).toBe('egress to metadata.example.com refused: it is a cloud metadata address');
    expect(after.address).toBe('169.254.169.254'); // for the operator's log only
  });

  it('refuses host patterns that are neither names nor addresses', () => {
    expect(() => hostMatcher('*')).toThrow(/host pattern/);
    expect(() => hostMatcher('a.*.example.com')).toThrow(/host pattern/);
    expect(() => hostMatcher('https://api.example.com')).toThrow(/host pattern/);
    expect(hostMatcher('[::1]')('::1')).toBe(true);
  });
});
