/**
 * Preloaded into the bridge process by the benchmark (`node --expose-gc -r .../bridge-hooks.js
 * lib/main.js ...`), never by a deployment; the bridge itself is unchanged. On SIGUSR2 it runs a
 * full garbage collection and writes the process's memory figures as JSON to $BENCH_MEM_FILE,
 * so memory can be compared without the garbage of whatever ran before. With
 * $BENCH_HEAP_SNAPSHOT_DIR set, it also writes a heap snapshot there each time
 * (`heap-<seq>.heapsnapshot`, for `--heap-snapshot`).
 */
import * as path from 'node:path';
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
  const snapshots = process.env.BENCH_HEAP_SNAPSHOT_DIR;
  if (snapshots) {
    // After the figures (a snapshot takes seconds and allocates); renamed once complete.
    const target = path.join(snapshots, `heap-${seq}.heapsnapshot`);
    v8.writeHeapSnapshot(`${target}.tmp`);
    fs.renameSync(`${target}.tmp`, target);
  }
});
