/**
 * Pure formatting for the `token-operator` / `kubectl token` CLI: tables and explanations
 * built from resources and events, with an injected `now` so tests pin every string.
 * Nothing here prints a Secret value: resources and events never hold one.
 */

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface TokenRow {
  kind: string;
  namespace: string;
  name: string;
  generation?: number;
  status?: {
    conditions?: Condition[];
    expirationTime?: string;
    nextRotationTime?: string;
    lastRotationTime?: string;
    observedGeneration?: number;
    failedAttempts?: number;
    lastFailureTime?: string;
    lastHandledRotateRequest?: string;
    [k: string]: unknown;
  };
  rotateRequest?: string;
  suspended?: boolean;
  deleting?: boolean;
}

export interface EventRow {
  type: string;
  reason: string;
  message: string;
  count?: number;
  lastTimestamp?: string;
}

/** "3d", "5h", "12m", "40s": kubectl's age style, two units where it helps ("2d4h"). */
export function shortDuration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d >= 10) return `${d}d`;
  if (d > 0) return h ? `${d}d${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

/** A time relative to now: "in 29d", "3h ago", or "-" when unset or unparsable. */
export function relative(iso: string | undefined, now: Date): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '-';
  const diff = t - now.getTime();
  return diff >= 0 ? `in ${shortDuration(diff)}` : `${shortDuration(diff)} ago`;
}

export function readyOf(row: TokenRow): Condition | undefined {
  return row.status?.conditions?.find((c) => c.type === 'Ready');
}

/** Left-aligned columns separated by three spaces, like kubectl. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export const STATUS_HEADER = ['KIND', 'NAMESPACE', 'NAME', 'READY', 'REASON', 'EXPIRES', 'NEXT-ROTATION'];

/** `status`: one line per token, sorted by kind, namespace, name. */
export function statusTable(rows: TokenRow[], now: Date): string {
  if (rows.length === 0) return 'No token resources found.';
  const sorted = [...rows].sort((a, b) => a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return table(
    STATUS_HEADER,
    sorted.map((r) => {
      const ready = readyOf(r);
      const stale = ready && r.generation !== undefined && r.status?.observedGeneration !== undefined && r.status.observedGeneration !== r.generation;
      let reason = ready?.reason ?? (r.status ? '-' : 'Pending');
      if (r.deleting) reason = 'Deleting';
      else if (r.suspended && reason !== 'Suspended') reason = `${reason} (suspended)`;
      return [
        r.kind,
        r.namespace,
        r.name,
        (ready?.status ?? 'Unknown') + (stale ? '*' : ''),
        reason,
        relative(r.status?.expirationTime, now),
        r.suspended ? '-' : relative(r.status?.nextRotationTime, now),
      ];
    }),
  );
}

/** `explain`: what the operator last decided about one token, and why. */
export function explainText(row: TokenRow, events: EventRow[], now: Date): string {
  const out: string[] = [];
  const ready = readyOf(row);
  out.push(`${row.kind} ${row.namespace}/${row.name}`);
  out.push(`  Ready:          ${ready?.status ?? 'Unknown'}${ready?.reason ? ` (${ready.reason})` : ''}`);
  if (ready?.message) out.push(`  Message:        ${ready.message}`);
  const s = row.status ?? {};
  const at = (iso: string | undefined) => (iso ? `${iso} (${relative(iso, now)})` : '-');
  out.push(`  Expires:        ${at(s.expirationTime)}`);
  out.push(`  Next rotation:  ${row.suspended ? 'never (spec.suspend is true)' : at(s.nextRotationTime)}`);
  out.push(`  Last rotation:  ${at(s.lastRotationTime)}`);
  if (s.failedAttempts) out.push(`  Failures:       ${s.failedAttempts} in a row, last ${at(s.lastFailureTime)}`);
  if (row.rotateRequest !== undefined) {
    const handled = row.rotateRequest === s.lastHandledRotateRequest;
    out.push(`  Rotate request: ${row.rotateRequest} (${handled ? 'handled' : 'pending'})`);
  }
  if (row.generation !== undefined && s.observedGeneration !== undefined && s.observedGeneration !== row.generation) {
    out.push(`  Note:           status describes generation ${s.observedGeneration}; the spec is at ${row.generation} (not reconciled yet)`);
  }
  if (row.deleting) out.push('  Note:           being deleted (waiting for the finalizer: revoke, then Secret clean-up)');

  out.push('', 'Conditions:');
  const conds = s.conditions ?? [];
  if (conds.length === 0) out.push('  (none yet: the operator has not reconciled this resource)');
  else
    out.push(
      table(
        ['  TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
        conds.map((c) => [`  ${c.type}`, c.status, c.reason ?? '', relative(c.lastTransitionTime, now), c.message ?? '']),
      ),
    );

  out.push('', 'Recent warnings:');
  const warnings = events
    .filter((e) => e.type === 'Warning')
    .sort((a, b) => Date.parse(b.lastTimestamp ?? '') - Date.parse(a.lastTimestamp ?? ''))
    .slice(0, 10);
  if (warnings.length === 0) out.push('  (none)');
  else
    out.push(
      table(
        ['  LAST SEEN', 'COUNT', 'REASON', 'MESSAGE'],
        warnings.map((e) => [`  ${relative(e.lastTimestamp, now)}`, String(e.count ?? 1), e.reason, e.message]),
      ),
    );
  return out.join('\n');
}
