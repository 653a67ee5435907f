#!/usr/bin/env node
/**
 * `token-operator` (and `kubectl token`, as a kubectl plugin): status, rotate, explain.
 * Reads resources and events only; never reads a Secret.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../runtime/kube-client.js';
import { USAGE, UsageError, parseArgs, type Command } from './args.js';
import { getToken, listTokens, requestRotation, toRow, tokenEvents, waitForRotation } from './commands.js';
import { explainText, statusTable } from './format.js';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  now: () => Date;
  /** defaults to loading $KUBECONFIG / ~/.kube/config (or --kubeconfig) */
  kubeConfig?: KubeConfig;
}

function defaultNamespace(kc: KubeConfig): string {
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace || 'default';
}

/** Runs one CLI invocation; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let cmd: Command & { kubeconfig?: string };
  try {
    cmd = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (cmd.command === 'help') {
    io.out(USAGE);
    return 0;
  }
  try {
    const kc =
      io.kubeConfig ??
      (() => {
        const k = new KubeConfig();
        if (cmd.kubeconfig) k.loadFromFile(cmd.kubeconfig);
        else k.loadFromDefault();
        return k;
      })();
    const client = new KubeClient(kc, { qps: 20, burst: 40 });
    const namespace = cmd.namespace ?? defaultNamespace(kc);
    switch (cmd.command) {
      case 'status': {
        const rows = await listTokens(client, cmd.allNamespaces ? undefined : namespace, cmd.kind ? [cmd.kind] : undefined);
        io.out(statusTable(rows, io.now()));
        return 0;
      }
      case 'rotate': {
        const value = await requestRotation(client, cmd.kind, namespace, cmd.name, io.now());
        io.out(`${cmd.kind.kind} ${namespace}/${cmd.name}: rotation requested (token-operator.io/rotate=${value})`);
        if (cmd.wait) {
          const obj = await waitForRotation(client, cmd.kind, namespace, cmd.name, value, 120_000);
          const ready = toRow(obj, cmd.kind.kind).status?.conditions?.find((c) => c.type === 'Ready');
          io.out(`handled: Ready=${ready?.status ?? 'Unknown'} (${ready?.reason ?? '-'})${ready?.message ? `: ${ready.message}` : ''}`);
          return ready?.status === 'True' ? 0 : 1;
        }
        return 0;
      }
      case 'explain': {
        const obj = await getToken(client, cmd.kind, namespace, cmd.name);
        const events = await tokenEvents(client, cmd.kind, namespace, cmd.name, obj.metadata?.uid);
        io.out(explainText(toRow(obj, cmd.kind.kind), events, io.now()));
        return 0;
      }
    }
  } catch (e) {
    io.err(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

// Run when executed directly (node dist/cli/main.js, the npm bin, or tsx src/cli/main.ts).
const invoked = process.argv[1] ?? '';
if (/(?:cli[\\/]main\.[jt]s|token-operator|kubectl-token)$/.test(invoked)) {
  const code = await runCli(process.argv.slice(2), {
    out: (t) => process.stdout.write(`${t}\n`),
    err: (t) => process.stderr.write(`${t}\n`),
    now: () => new Date(),
  });
  process.exitCode = code;
}
