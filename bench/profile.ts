// Summarises V8 CPU profiles (node --cpu-prof; `BENCH_CPU_PROF=dir npm run bench` writes one per
// server process under dir/portcullis and dir/stock). Usage:
//   node bench/profile.ts <dir>                     self time by package and by function
//   node bench/profile.ts <dir> --inclusive <text>  time on the stack, for frames matching <text>
//   node bench/profile.ts <dir> --callers <name>    the stacks that lead to a function
// Samples are wall-clock: on a loaded machine a descheduled thread's time lands where it stopped.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [dir, mode, argument] = process.argv.slice(2);
if (!dir) throw new Error('usage: node bench/profile.ts <folder of .cpuprofile files> [--inclusive text | --callers name]');

const packageOf = (url: string) => {
  if (!url) return '(native / gc)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url;
  const src = url.search(/\/(src|bench)\//);
  return src >= 0 ? url.slice(src + 1) : url;
};
const frameName = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${packageOf(f.url)}:${f.lineNumber + 1}`;

const self = new Map<string, number>();
const byPackage = new Map<string, number>();
const inclusive = new Map<string, number>();
const callers = new Map<string, number>();
let total = 0;
const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);

const files = readdirSync(dir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.cpuprofile'));
for (const file of files) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  profile.samples.forEach((id, i) => {
    const node = nodes.get(id);
    if (!node || node.callFrame.functionName === '(idle)') return;
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    add(self, frameName(node.callFrame), us);
    add(byPackage, packageOf(node.callFrame.url), us);
    const stack: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at)?.callFrame;
      if (frame) stack.push(frame);
    }
    if (mode === '--inclusive') {
      for (const name of new Set(stack.map(frameName))) if (!argument || name.includes(argument)) add(inclusive, name, us);
    }
    if (mode === '--callers' && node.callFrame.functionName === argument) {
      add(callers, stack.slice(1, 12).map(frameName).join('\n    < '), us);
    }
  });
}

const show = (title: string, map: Map<string, number>, n: number) => {
  process.stdout.write(`\n${title} (of ${(total / 1000).toFixed(0)} ms on CPU or waiting for it, ${files.length} profiles)\n`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${key}\n`);
  }
};
if (mode === '--inclusive') show(`time on the stack${argument ? ` (frames matching "${argument}")` : ''}`, inclusive, 60);
else if (mode === '--callers') show(`stacks leading to ${argument}`, callers, 10);
else {
  show('self time by package or file', byPackage, 30);
  show('self time by function', self, 40);
}
