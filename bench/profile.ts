/**
 * Summarises a V8 CPU profile (the .cpuprofile that `node --cpu-prof` writes) into the functions
 * and the packages that used the most CPU themselves (self time).
 */
import * as fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface ProfileSummary {
  file: string;
  /** Wall time the profile covers. */
  wallMs: number;
  /** CPU time sampled on the main thread (everything but "(idle)"). */
  busyMs: number;
  /** Self time by function, highest first. */
  functions: Array<{ name: string; ms: number; percent: number }>;
  /** Self time by package or folder (node_modules/<pkg>, lib/<dir>, node internals, ...). */
  areas: Array<{ name: string; ms: number; percent: number }>;
}

function area(url: string, fn: string): string {
  if (url === '') {
    return fn.startsWith('(') ? fn : '(native)';
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) {
    return nm[1] as string;
  }
  const lib = /\/lib\/([^/]+)(\/|\.js)/.exec(url);
  if (lib && !url.startsWith('node:')) {
    return `bridge lib/${lib[1] as string}`;
  }
  return url.startsWith('node:') ? 'node internals' : url;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const allHits = p.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0) || 1;
  const idleHits = p.nodes.filter((x) => x.callFrame.functionName === '(idle)').reduce((n, x) => n + (x.hitCount ?? 0), 0);
  const wallMs = (p.endTime - p.startTime) / 1000;
  const msPerHit = wallMs / allHits;
  const totalHits = Math.max(1, allHits - idleHits);
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const node of p.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0 || node.callFrame.functionName === '(idle)') {
      continue;
    }
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|lib)\//, '$1/');
    const name = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
    byFn.set(name, (byFn.get(name) ?? 0) + hits);
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + hits);
  }
  const rank = (m: Map<string, number>): ProfileSummary['functions'] => [...m.entries()]
    .sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, hits]) => ({
      name,
      ms: Math.round(hits * msPerHit),
      percent: Math.round((hits / totalHits) * 1000) / 10,
    }));
  return { file, wallMs: Math.round(wallMs), busyMs: Math.round(totalHits * msPerHit), functions: rank(byFn), areas: rank(byArea) };
}
