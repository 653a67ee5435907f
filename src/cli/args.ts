import { KINDS } from '../api/index.js';

/** Command-line parsing for the CLI; throws UsageError with a message fit for the user. */

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface KindRef {
  kind: string;
  plural: string;
}

export type Command =
  | { command: 'status'; namespace?: string; allNamespaces: boolean; kind?: KindRef }
  | { command: 'rotate'; name: string; namespace?: string; kind: KindRef; wait: boolean }
  | { command: 'explain'; name: string; namespace?: string; kind: KindRef }
  | { command: 'help' };

/** "DeltaShareToken (dst), AccessToken (at) or DataToken (dt)", from the kind table */
function kindChoices(last: string): string {
  const each = KINDS.map((k) => `${k.kind} (${k.shortNames.join(', ')})`);
  return each.length > 1 ? `${each.slice(0, -1).join(', ')}${last}${each.at(-1)}` : (each[0] ?? '');
}

export const USAGE = `Usage: token-operator <command> [flags]   (also: kubectl token <command>)

Commands:
  status  [-n NAMESPACE | -A] [-k KIND]   every token with READY, REASON, EXPIRES, NEXT-ROTATION
  rotate  NAME -k KIND [-n NAMESPACE] [--wait]
                                          rotate now: sets token-operator.io/rotate to the current time
  explain NAME -k KIND [-n NAMESPACE]     conditions, times and recent Warning events of one token

Flags:
  -n, --namespace NAMESPACE   default: the kubeconfig context's namespace, else "default"
  -A, --all-namespaces        status only
  -k, --kind KIND             ${kindChoices(' or ')}
  --kubeconfig PATH           default: $KUBECONFIG or ~/.kube/config
  --wait                      rotate: wait until the operator has handled the request
  -h, --help`;

/** A kind's name, singular, plural or short name (any case) → the kind. */
export function resolveKind(input: string): KindRef {
  const want = input.toLowerCase();
  for (const k of KINDS) {
    const names = [k.kind.toLowerCase(), k.plural, k.singular, ...k.shortNames, `${k.plural}.token-operator.io`];
    if (names.includes(want)) return { kind: k.kind, plural: k.plural };
  }
  throw new UsageError(`unknown kind "${input}": use one of ${kindChoices(', ')}`);
}

export function parseArgs(argv: string[]): Command & { kubeconfig?: string } {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const takesValue = new Set(['namespace', 'kind', 'kubeconfig']);
  const alias: Record<string, string> = { n: 'namespace', k: 'kind', A: 'all-namespaces', h: 'help' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^(?:--([a-z-]+)|-([a-zA-Z]))(?:=(.*))?$/.exec(a);
    if (!m) {
      positional.push(a);
      continue;
    }
    const name = m[1] ?? alias[m[2]!];
    if (!name) throw new UsageError(`unknown flag ${a}`);
    if (takesValue.has(name)) {
      const v = m[3] ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${a} needs a value`);
      flags.set(name, v);
    } else if (['all-namespaces', 'help', 'wait'].includes(name)) {
      flags.set(name, true);
    } else {
      throw new UsageError(`unknown flag ${a}`);
    }
  }
  const str = (k: string) => (typeof flags.get(k) === 'string' ? (flags.get(k) as string) : undefined);
  const common = { ...(str('kubeconfig') ? { kubeconfig: str('kubeconfig') } : {}) };
  const namespace = str('namespace');
  const [command, ...rest] = positional;
  if (flags.has('help') || command === undefined || command === 'help') return { command: 'help', ...common };
  const nsPart = namespace ? { namespace } : {};
  switch (command) {
    case 'status': {
      if (rest.length) throw new UsageError(`status takes no NAME (got "${rest.join(' ')}")`);
      if (flags.has('all-namespaces') && namespace) throw new UsageError('use -n or -A, not both');
      const kind = str('kind');
      return { command, allNamespaces: flags.has('all-namespaces'), ...nsPart, ...(kind ? { kind: resolveKind(kind) } : {}), ...common };
    }
    case 'rotate':
    case 'explain': {
      if (rest.length !== 1) throw new UsageError(`${command} needs exactly one NAME`);
      const kind = str('kind');
      if (!kind) throw new UsageError(`${command} needs -k KIND (${KINDS.map((k) => k.kind).join(', ')})`);
      if (flags.has('all-namespaces')) throw new UsageError(`${command} works in one namespace: use -n`);
      const base = { name: rest[0]!, kind: resolveKind(kind), ...nsPart, ...common };
      return command === 'rotate' ? { command, ...base, wait: flags.has('wait') } : { command, ...base };
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}
