/** Parses a Kubernetes-style duration ("90s", "1h30m", "500ms") into milliseconds. */
export function parseDuration(text: string): number {
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * unit[m[2] as keyof typeof unit];
    consumed += m[0].length;
  }
  if (consumed !== text.length || consumed === 0) throw new Error(`invalid duration "${text}"`);
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * A duration, never below `floor`: admission refuses shorter values (src/api FLOORS), and a
 * resource stored before a floor existed runs with the floor rather than the shorter value.
 */
export function atLeast(text: string, floor: string): number {
  return Math.max(parseDuration(floor), parseDuration(text));
}
