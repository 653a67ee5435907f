import { readFileSync } from 'node:fs';

/** user+system CPU seconds a process has used so far (/proc/PID/stat, clock ticks of 1/100 s) */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
