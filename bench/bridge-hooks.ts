/**
 * Preloaded into the bridge process by the benchmark (`node --expose-gc -r .../bridge-hooks.js
 * lib/main.js ...`), never by a deployment; the bridge itself is unchanged. On SIGUSR2 it runs a
 * full garbage collection and writes the process's memory figures as JSON to $BENCH_MEM_FILE,
 * so memory can be compared without the garbage of whatever ran before.
 */
import * as fs from 'node:fs';
import * as v8 from 'node:v8';

let seq = 0;
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const file = process.env.BENCH_MEM_FILE;
  if (!file) {
    return;
  }
  const spaces: Record<string, { size: number; used: number }> = {};
  for (const s of v8.getHeapSpaceStatistics()) {
    spaces[s.space_name] = { size: s.space_size, used: s.space_used_size };
  }
  const data = JSON.stringify({ seq: ++seq, gc: typeof gc === 'function', memory: process.memoryUsage(), heap: v8.getHeapStatistics(), spaces });
  fs.writeFileSync(`${file}.tmp`, data);
  fs.renameSync(`${file}.tmp`, file);
});
