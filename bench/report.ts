/** Report sections the benchmark's scenarios share (run.ts and startup.ts). */
import type { ProfileSummary } from './profile';

/** The machine and build a run was on (run.ts's `machine()`). */
export interface MachineInfo {
  date: string;
  nproc: number;
  cpuModel: string;
  memoryMb: number;
  kernel: string;
  node: string;
  inspircd: string;
  gitCommit: string;
  gitDirtyFiles: number;
  /** When lib/main.js was built (the bridge that ran); `npm run bench` builds it first. */
  libBuiltAt: string;
}

/** The report's line about the machine, versions and commit. */
export function machineLine(m: MachineInfo): string {
  return `Machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryMb} MB, ${m.kernel}; Node ${m.node}; ${m.inspircd}; ` +
    `commit ${m.gitCommit.slice(0, 12)}${m.gitDirtyFiles ? ` (+${m.gitDirtyFiles} uncommitted files)` : ''}, lib/ built ${m.libBuiltAt}.`;
}

/** What scanLog finds in the bridge log. */
export interface LogFindings {
  /** Warnings and errors logged while the benchmark ran (before it asked the bridge to stop). */
  warnings: number;
  errors: number;
  /** "LEVEL [module] message" -> count, while running */
  kinds: Record<string, number>;
  /** The same, for lines logged after the benchmark sent SIGTERM (the bridge's shutdown). */
  shutdownKinds: Record<string, number>;
  excerpts: string[];
}

/** The "bridge log" section; `running` is said when the bridge did not exit during the run. */
export function bridgeLogLines(log: LogFindings, logLevel: string, bridgeExit: string | null, running = ''): string[] {
  const lines = ['## bridge log', '',
    `Log level ${logLevel}, while the benchmark ran: ${log.warnings} warnings, ${log.errors} errors` +
    `${bridgeExit ? `; the bridge EXITED during the run (${bridgeExit})` : running}.`];
  for (const [kind, n] of Object.entries(log.kinds)) {
    lines.push(`- ${n} x ${kind}`);
  }
  const shutdown = Object.entries(log.shutdownKinds);
  if (shutdown.length > 0) {
    lines.push('', 'Logged while the bridge was stopping (after SIGTERM):');
    for (const [kind, n] of shutdown) {
      lines.push(`- ${n} x ${kind}`);
    }
  }
  if (log.excerpts.length > 0) {
    lines.push('', '```', ...log.excerpts.slice(0, 15), '```');
  }
  return lines;
}

/** The "bridge CPU profile" section (nothing without a profile). */
export function profileLines(profile: ProfileSummary | null): string[] {
  if (!profile) {
    return [];
  }
  const lines = ['', `## bridge CPU profile (${profile.busyMs} ms busy in ${profile.wallMs} ms; self time)`, '',
    '| area | ms | % of busy |', '| --- | --- | --- |'];
  for (const a of profile.areas.slice(0, 10)) {
    lines.push(`| ${a.name} | ${a.ms} | ${a.percent} |`);
  }
  lines.push('', '| function | ms | % of busy |', '| --- | --- | --- |');
  for (const f of profile.functions) {
    lines.push(`| \`${f.name.replace(/\|/g, '\\|')}\` | ${f.ms} | ${f.percent} |`);
  }
  return lines;
}
