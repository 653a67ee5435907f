/**
 * Named points where the crash-injection suite kills the process (TOKEN_OPERATOR_CRASH_AT=name),
 * to prove every half-done step is recoverable. A no-op in normal runs.
 */
export function crashPoint(name: string): void {
  const at = process.env.TOKEN_OPERATOR_CRASH_AT;
  if (at && at === name) {
    process.stderr.write(`crash injected at ${name}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
