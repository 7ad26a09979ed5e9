/**
 * The throughput scenario: with the run's puppets in the channel, messages go one direction at a
 * time at rising rates (each step `stepSeconds` of messages, measured by the latency scenario's
 * machinery and drained before it is judged). A step passes when under 1 % of its messages are
 * lost and their p99 latency is under 1 s. A direction stops at its first failing step; its
 * result is the highest rate that passed.
 *
 * run.ts hands in the step runner (its matrixToIrc / ircToMatrix), so this file needs nothing of
 * the environment.
 */
import type { Summary } from './stats';

export type Direction = 'matrix_to_irc' | 'irc_to_matrix';

/** What a step needs from a latency run (a subset of run.ts's DirectionResult). */
export interface StepFigures {
  direction: Direction;
  rate: number;
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  latencyMs: Summary;
  sendSeconds: number;
  cpuMsPerMessage: number;
  backlogAtStart?: number | null;
}

export interface ThroughputStep {
  direction: Direction;
  rate: number;
  sent: number;
  received: number;
  lost: number;
  lossPercent: number;
  duplicates: number;
  outOfOrder: number;
  latencyMs: Summary | null;
  /** How long sending took: above sent / rate when the sender could not keep the pace. */
  sendSeconds: number | null;
  /** The rate actually sent: sendSeconds runs from the first message to the last, so
   *  (sent - 1) / sendSeconds. */
  achievedRate: number | null;
  cpuMsPerMessage: number | null;
  pass: boolean;
  /** Why the step failed ('' when it passed). */
  reason: string;
}

export interface ThroughputDirection {
  direction: Direction;
  /** The highest rate that passed, every step below it having passed too; null if none did. */
  highestPassingRate: number | null;
  steps: ThroughputStep[];
}

export interface ThroughputResult {
  /** Puppets in the channel while it ran. */
  puppets: number;
  rates: number[];
  stepSeconds: number;
  maxLossPercent: number;
  maxP99Ms: number;
  directions: ThroughputDirection[];
}

export interface ThroughputOptions {
  puppets: number;
  rates: number[];
  stepSeconds: number;
  /** Pause between steps, for the bridge to settle. */
  pauseMs?: number;
  directions?: Direction[];
}

export interface ThroughputDeps {
  /** Sends `count` messages at `rate` per second in one direction and returns the figures once
   *  they have drained. */
  runStep: (direction: Direction, rate: number, count: number) => Promise<StepFigures>;
  sleep: (ms: number) => Promise<void>;
  progress: (line: string) => void;
  /** Called before each step (the timeline's phase). */
  onStep?: (direction: Direction, rate: number) => void;
}

export const MAX_LOSS_PERCENT = 1;
export const MAX_P99_MS = 1000;

const round2 = (v: number): number => Math.round(v * 100) / 100;

/** Messages in a step: rate x seconds, at least one. */
export function stepCount(rate: number, stepSeconds: number): number {
  return Math.max(1, Math.round(rate * stepSeconds));
}

/** Judges one step's figures: loss under 1 % and p99 under 1 s. */
export function judgeStep(f: StepFigures): ThroughputStep {
  const lossPercent = f.sent > 0 ? round2((f.lost / f.sent) * 100) : 0;
  const p99 = f.latencyMs.p99;
  const reasons: string[] = [];
  if (lossPercent >= MAX_LOSS_PERCENT) {
    reasons.push(`${lossPercent} % lost`);
  }
  if (p99 === null) {
    reasons.push('nothing arrived');
  } else if (p99 >= MAX_P99_MS) {
    reasons.push(`p99 ${p99} ms`);
  }
  return {
    direction: f.direction,
    rate: f.rate,
    sent: f.sent,
    received: f.received,
    lost: f.lost,
    lossPercent,
    duplicates: f.duplicates,
    outOfOrder: f.outOfOrder,
    latencyMs: f.latencyMs,
    sendSeconds: f.sendSeconds,
    achievedRate: f.sent > 1 && f.sendSeconds > 0 ? round2((f.sent - 1) / f.sendSeconds) : null,
    cpuMsPerMessage: f.cpuMsPerMessage,
    pass: reasons.length === 0,
    reason: reasons.join(', '),
  };
}

/** The highest rate reached by passing steps before the first failure. */
export function highestPassing(steps: readonly ThroughputStep[]): number | null {
  let best: number | null = null;
  for (const s of steps) {
    if (!s.pass) {
      break;
    }
    best = best === null ? s.rate : Math.max(best, s.rate);
  }
  return best;
}

export async function scenarioThroughput(deps: ThroughputDeps, opts: ThroughputOptions): Promise<ThroughputResult> {
  const rates = [...opts.rates].sort((a, b) => a - b);
  const result: ThroughputResult = {
    puppets: opts.puppets, rates, stepSeconds: opts.stepSeconds, maxLossPercent: MAX_LOSS_PERCENT, maxP99Ms: MAX_P99_MS,
    directions: [],
  };
  for (const direction of opts.directions ?? ['matrix_to_irc', 'irc_to_matrix'] as Direction[]) {
    const steps: ThroughputStep[] = [];
    for (const rate of rates) {
      const count = stepCount(rate, opts.stepSeconds);
      deps.onStep?.(direction, rate);
      deps.progress(`throughput ${direction}: ${rate} msg/s for ${opts.stepSeconds} s (${count} messages)`);
      let step: ThroughputStep;
      try {
        step = judgeStep(await deps.runStep(direction, rate, count));
      } catch (err) {
        step = {
          direction, rate, sent: count, received: 0, lost: count, lossPercent: 100, duplicates: 0, outOfOrder: 0,
          latencyMs: null, sendSeconds: null, achievedRate: null, cpuMsPerMessage: null, pass: false,
          reason: `error: ${(err as Error).message.split('\n')[0] ?? ''}`,
        };
      }
      steps.push(step);
      deps.progress(`throughput ${direction} ${rate} msg/s: ${step.pass ? 'pass' : `FAIL (${step.reason})`}, ` +
        `p99 ${step.latencyMs?.p99 ?? 'n/a'} ms, ${step.lost} lost`);
      if (!step.pass) {
        break;
      }
      await deps.sleep(opts.pauseMs ?? 2000);
    }
    result.directions.push({ direction, highestPassingRate: highestPassing(steps), steps });
  }
  return result;
}

const directionName = (d: Direction): string => (d === 'matrix_to_irc' ? 'Matrix -> IRC' : 'IRC -> Matrix');
const fmt = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? 'n/a' : `${v}${unit}`);

/** The scenario's markdown section (`level` = heading level). */
export function throughputMarkdown(r: ThroughputResult, level = 2): string {
  const h = '#'.repeat(level);
  const lines: string[] = [];
  lines.push(`${h} throughput: ${r.puppets} puppets in the channel, steps of ${r.stepSeconds} s`);
  lines.push('');
  lines.push(`A step passes when under ${r.maxLossPercent} % of its messages are lost and p99 is under ${r.maxP99Ms} ms ` +
    '(after they drained); a direction stops at its first failing step.');
  lines.push('');
  lines.push('| direction | highest passing rate | steps |');
  lines.push('| --- | --- | --- |');
  for (const d of r.directions) {
    const best = d.highestPassingRate === null ? 'none'
      : d.steps.every((s) => s.pass) ? `**${d.highestPassingRate} msg/s** or more (every step passed)` : `**${d.highestPassingRate} msg/s**`;
    lines.push(`| ${directionName(d.direction)} | ${best} | ` +
      `${d.steps.map((s) => `${s.rate}${s.pass ? '' : ' (failed)'}`).join(', ')} |`);
  }
  lines.push('');
  lines.push('| direction | rate msg/s | sent at msg/s | sent | received | lost % | p50 ms | p90 ms | p99 ms | max ms | bridge CPU ms/msg | result |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const d of r.directions) {
    for (const s of d.steps) {
      const l = s.latencyMs;
      lines.push(`| ${directionName(s.direction)} | ${s.rate} | ${fmt(s.achievedRate)} | ${s.sent} | ${s.received} | ${s.lossPercent} | ` +
        `${fmt(l?.p50)} | ${fmt(l?.p90)} | ${fmt(l?.p99)} | ${fmt(l?.max)} | ${fmt(s.cpuMsPerMessage)} | ` +
        `${s.pass ? 'pass' : `fail: ${s.reason.replace(/\|/g, '\\|')}`} |`);
    }
  }
  const notes = r.directions.flatMap((d) => d.steps)
    .filter((s) => s.duplicates > 0 || s.outOfOrder > 0)
    .map((s) => `${directionName(s.direction)} at ${s.rate}: ${s.duplicates} duplicates, ${s.outOfOrder} out of order`);
  if (notes.length > 0) {
    lines.push('');
    lines.push(`Notes: ${notes.join('; ')}.`);
  }
  lines.push('');
  return lines.join('\n');
}
