import { parse, validateDetailed } from 'node-cron';

/**
 * Next cron slot at or after `from` (UTC), using node-cron's parser for the expression and a
 * pure search for the time, so schedules are decided by the injected clock, never by timers.
 */
export function nextCronSlot(expression: string, from: Date, horizonDays = 400): Date | undefined {
  const f = parse(expression.trim());
  const minutes = new Set(f.minute);
  const hours = new Set(f.hour);
  const months = new Set(f.month);
  const doms = new Set(f.dayOfMonth.map(Number));
  const dows = new Set(f.dayOfWeek.map((d) => Number(d) % 7));
  const seconds = f.second.length ? [...f.second].sort((a, b) => a - b) : [0];
  // Standard cron: when both day fields are restricted, either may match.
  const domAll = doms.size >= 31;
  const dowAll = dows.size >= 7;
  const dayMatches = (d: Date): boolean => {
    const dom = doms.has(d.getUTCDate());
    const dow = dows.has(d.getUTCDay());
    if (domAll && dowAll) return true;
    if (domAll) return dow;
    if (dowAll) return dom;
    return dom || dow;
  };
  // Slots are whole seconds: start at the first one not before `from` (rounding down would
  // answer a slot up to 999 ms in the past).
  const start = new Date(Math.ceil(from.getTime() / 1000) * 1000);
  const end = from.getTime() + horizonDays * 86_400_000;
  const day = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
  for (; day.getTime() <= end; day.setUTCDate(day.getUTCDate() + 1)) {
    if (!months.has(day.getUTCMonth() + 1) || !dayMatches(day)) continue;
    for (let h = 0; h < 24; h++) {
      if (!hours.has(h)) continue;
      for (let m = 0; m < 60; m++) {
        if (!minutes.has(m)) continue;
        for (const s of seconds) {
          const t = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), h, m, s);
          if (t >= start.getTime()) return new Date(t);
        }
      }
    }
  }
  return undefined;
}

/** A human-readable reason the expression is invalid, or undefined when it is valid. */
export function cronProblem(expression: string): string | undefined {
  const v = validateDetailed(expression.trim());
  if (!v.valid) return v.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'invalid cron expression';
  // node-cron's L, W and # extensions parse to strings, which nextCronSlot cannot match:
  // such a schedule would never have a slot and be ignored.
  const odd = Object.entries(v.fields ?? {}).flatMap(([field, values]) =>
    (values as Array<number | string>).filter((x) => typeof x !== 'number').map((x) => `${field}: ${x} is not supported (no L, W or #)`),
  );
  return odd.length ? odd.join('; ') : undefined;
}
