// Process figures from Linux /proc: CPU time (user + system) and resident memory of the server's
// processes, read from outside so the measurement adds nothing to the server's own work.
import { readdirSync, readFileSync } from 'node:fs';

// USER_HZ: the unit of utime/stime in /proc/<pid>/stat. 100 on every Linux the bench targets.
const TICKS_PER_SECOND = 100;

function stat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU milliseconds (user + system) a process has used so far; 0 once it is gone. */
export function cpuMs(pid: number): number {
  const fields = stat(pid);
  if (!fields) return 0;
  // After the name: state(0) ppid(1) ... utime(11) stime(12)
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** Resident memory now and its peak (VmHWM), in MiB. */
export function memory(pid: number): { rssMiB: number; peakMiB: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
  } catch {
    return { rssMiB: 0, peakMiB: 0 };
  }
}

/** Direct children of a process (the cluster workers of the primary). */
export function childrenOf(pid: number): number[] {
  try {
    // One small file (CONFIG_PROC_CHILDREN), instead of reading every process's stat.
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    const children: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const fields = stat(Number(entry));
      if (fields && Number(fields[1]) === pid) children.push(Number(entry));
    }
    return children;
  }
}

/** Sum of CPU ms over a set of processes. */
export const totalCpuMs = (pids: number[]): number => pids.reduce((sum, pid) => sum + cpuMs(pid), 0);

/** CPU ms of each process at one instant, to subtract from a later reading. */
export function cpuSnapshot(pids: number[]): Map<number, number> {
  return new Map(pids.map((pid) => [pid, cpuMs(pid)]));
}

/** CPU ms used since a snapshot by these processes (a process new since then counts from 0). */
export function cpuSince(before: Map<number, number>, pids: number[]): number {
  return pids.reduce((sum, pid) => sum + Math.max(0, cpuMs(pid) - (before.get(pid) ?? 0)), 0);
}
