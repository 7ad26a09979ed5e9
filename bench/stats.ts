/**
 * Small helpers for the benchmark: percentiles and reading a process's memory and CPU time
 * from /proc (Linux).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

export interface Summary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

/** Nearest-rank percentile of sorted values (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) {
    return null;
  }
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? null;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] ?? null) : null,
    mean: sorted.length ? sum / sorted.length : null,
  };
}

let clockTicks: number | null = null;
function clkTck(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface ProcSample {
  /** VmRSS from /proc/<pid>/status, kilobytes. */
  rssKb: number;
  /** utime + stime from /proc/<pid>/stat, milliseconds. */
  cpuMs: number;
}

export function sampleProcess(pid: number): ProcSample {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { rssKb: rss ? Number(rss[1]) : NaN, cpuMs: ((utime + stime) * 1000) / clkTck() };
}

export const round = (v: number | null, digits = 1): number | null =>
  v === null || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The machine's CPU time so far by kind, in ticks (the first line of /proc/stat). */
export interface MachineCpu {
  user: number;
  system: number;
  softirq: number;
  idle: number;
  total: number;
}

export function sampleMachineCpu(): MachineCpu {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => f[i] ?? 0;
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { user: at(0) + at(1), system: at(2) + at(5), softirq: at(6), idle: at(3) + at(4), total };
}

/** Shares of the machine's CPU time between two samples, in percent of all its CPUs. */
export function machineCpuShares(a: MachineCpu, b: MachineCpu): { user: number; system: number; softirq: number; idle: number } | null {
  const total = b.total - a.total;
  if (total <= 0) {
    return null;
  }
  const pct = (k: keyof MachineCpu): number => Math.round((1000 * (b[k] - a[k])) / total) / 10;
  return { user: pct('user'), system: pct('system'), softirq: pct('softirq'), idle: pct('idle') };
}

/** How many of the (sorted) times fall in each whole second: [0, 1000), [1000, 2000), ... */
export function perSecond(sortedMs: readonly number[]): number[] {
  const out: number[] = [];
  for (const t of sortedMs) {
    const s = Math.max(0, Math.floor(t / 1000));
    while (out.length <= s) {
      out.push(0);
    }
    out[s] = (out[s] as number) + 1;
  }
  return out;
}
