import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

/**
 * Child processes started by the harness. Each is stopped by its own PID; the
 * process 'exit' hook is the last resort for a test run that dies before its
 * afterAll, so no server outlives the run.
 */
const live = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', killAllNow);
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
  isRunning(): boolean;
  /** SIGTERM, wait up to graceMs, then SIGKILL and wait up to 5 s more. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of the log file. */
  tail(lines?: number): string;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  logPath: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts a child with stdout and stderr appended to logPath. */
export function spawnLogged(opts: SpawnOptions): ManagedProcess {
  installExitHook();
  const fd = fs.openSync(opts.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: false,
    });
  } finally {
    fs.closeSync(fd);
  }
  if (child.pid === undefined) {
    throw new Error(`${opts.name}: could not start ${opts.command}`);
  }
  const pid = child.pid;
  live.add(child);
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      running = false;
      live.delete(child);
      resolve(`error: ${err.message}`);
    });
  });

  const waitExit = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (!running) {
        resolve(true);
        return;
      }
      const timer = setTimeout(() => {
        resolve(false);
      }, ms);
      void exited.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });

  return {
    name: opts.name,
    pid,
    logPath: opts.logPath,
    exited,
    isRunning: () => running,
    async stop(graceMs = 10_000): Promise<void> {
      if (!running) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // exited meanwhile
      }
      if (await waitExit(graceMs)) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
      await waitExit(5000);
    },
    tail: (lines = 60) => tailFile(opts.logPath, lines),
  };
}

export function tailFile(path: string, lines = 60): string {
  try {
    const text = fs.readFileSync(path, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no log at ${path}: ${(err as Error).message})`;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}

/** Thrown from a pollUntil check to stop polling at once (e.g. the server process exited). */
export class PollAbort extends Error {}

/**
 * Polls check() every intervalMs until it returns a value other than undefined,
 * at most until timeoutMs has passed. Throws with `what` in the message on timeout.
 */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const interval = opts.intervalMs ?? 200;
  const deadline = Date.now() + opts.timeoutMs;
  const maxTries = Math.ceil(opts.timeoutMs / interval) + 1;
  let lastError: unknown;
  for (let i = 0; i < maxTries && Date.now() <= deadline; i++) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof PollAbort) throw new Error(`gave up waiting for ${what}: ${err.message}`);
      lastError = err;
    }
    await sleep(interval);
  }
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${detail}`);
}

/** Writes a line to stdout outside of console.* (the linter forbids console). */
export function report(line: string): void {
  process.stdout.write(`${line}\n`);
}
