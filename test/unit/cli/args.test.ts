import { describe, expect, it } from 'vitest';
import { UsageError, parseArgs, resolveKind } from '../../../src/cli/args.js';

describe('CLI arguments', () => {
  it('parses status in one namespace, all namespaces, and by kind', () => {
    expect(parseArgs(['status'])).toEqual({ command: 'status', allNamespaces: false });
    expect(parseArgs(['status', '-n', 'analytics'])).toEqual({ command: 'status', allNamespaces: false, namespace: 'analytics' });
    expect(parseArgs(['status', '--namespace=analytics'])).toMatchObject({ namespace: 'analytics' });
    expect(parseArgs(['status', '-A', '-k', 'dst'])).toEqual({ command: 'status', allNamespaces: true, kind: { kind: 'DeltaShareToken', plural: 'deltasharetokens' } });
  });

  it('parses rotate and explain with a kind, in any flag order', () => {
    expect(parseArgs(['rotate', 'zalando', '-k', 'DeltaShareToken', '-n', 'analytics'])).toEqual({
      command: 'rotate',
      name: 'zalando',
      namespace: 'analytics',
      kind: { kind: 'DeltaShareToken', plural: 'deltasharetokens' },
      wait: false,
    });
    expect(parseArgs(['-n', 'p', 'rotate', '--kind=at', 'ilp', '--wait'])).toMatchObject({ command: 'rotate', name: 'ilp', kind: { kind: 'AccessToken' }, wait: true });
    expect(parseArgs(['explain', 'k', '-k', 'datatokens', '--kubeconfig', '/tmp/kc'])).toEqual({
      command: 'explain',
      name: 'k',
      kind: { kind: 'DataToken', plural: 'datatokens' },
      kubeconfig: '/tmp/kc',
    });
  });

  it('resolves kind names, plurals and short names', () => {
    for (const n of ['DeltaShareToken', 'deltasharetoken', 'deltasharetokens', 'dst', 'deltasharetokens.token-operator.io']) expect(resolveKind(n).kind).toBe('DeltaShareToken');
    expect(resolveKind('AT').kind).toBe('AccessToken');
    expect(resolveKind('dt').kind).toBe('DataToken');
  });

  it('returns help for no command, -h or help', () => {
    expect(parseArgs([]).command).toBe('help');
    expect(parseArgs(['status', '-h']).command).toBe('help');
    expect(parseArgs(['help']).command).toBe('help');
  });

  it('refuses what it cannot do, saying what to fix', () => {
    const bad: Array<[string[], RegExp]> = [
      [['rotate', 'x'], /needs -k KIND/],
      [['rotate', '-k', 'dst'], /exactly one NAME/],
      [['explain', 'a', 'b', '-k', 'dst'], /exactly one NAME/],
      [['rotate', 'x', '-k', 'certificate'], /unknown kind "certificate"/],
      [['status', '-n', 'a', '-A'], /-n or -A, not both/],
      [['rotate', 'x', '-k', 'dst', '-A'], /one namespace/],
      [['status', '-n'], /needs a value/],
      [['status', '--frobnicate'], /unknown flag/],
      [['delete', 'x'], /unknown command "delete"/],
    ];
    for (const [argv, msg] of bad) expect(() => parseArgs(argv), argv.join(' ')).toThrow(UsageError);
    for (const [argv, msg] of bad) expect(() => parseArgs(argv), argv.join(' ')).toThrow(msg);
  });
});
