/** The most events found in any window of `ms`, wherever it starts (not only on whole seconds); `times` sorted ascending. */
export function maxInAnyWindow(times: readonly number[], ms: number): number {
  let max = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j]! - times[i]! < ms) j++;
    max = Math.max(max, j - i);
  }
  return max;
}
