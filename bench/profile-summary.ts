// Sums self time per function and per file from a V8 .cpuprofile (node --cpu-prof): `node bin/run-ts.js bench/profile-summary.ts <file> [top]`.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]');
const top = Number(topArg ?? 40);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const selfByNode = new Map<number, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  selfByNode.set(id, (selfByNode.get(id) ?? 0) + dt);
  total += dt;
});

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, 'npm:')
    .replace(/^.*\/work\/main\//, '');
const label = (node: ProfileNode) => `${node.callFrame.functionName || '(anonymous)'} ${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
const add = (map: Map<string, number>, key: string, value: number) => map.set(key, (map.get(key) ?? 0) + value);

const selfByFunction = new Map<string, number>();
const selfByFile = new Map<string, number>();
// inclusive time per function: each sample counts once for every distinct function on its stack
const inclusive = new Map<string, number>();
for (const [id, dt] of selfByNode) {
  const node = byId.get(id)!;
  add(selfByFunction, label(node), dt);
  add(selfByFile, shortUrl(node.callFrame.url) || `(${node.callFrame.functionName})`, dt);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const key = label(byId.get(at)!);
    if (!seen.has(key)) {
      seen.add(key);
      add(inclusive, key, dt);
    }
  }
}

const print = (title: string, map: Map<string, number>): void => {
  console.log(`\n${title}`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
};
console.log(`total sampled ${(total / 1000).toFixed(0)} ms`);
print('self time by file', selfByFile);
print('self time by function', selfByFunction);
print('inclusive time by function', inclusive);

// PROFILE_CALLERS=name: where the self time of functions with that name comes from (three frames up)
const callersOf = process.env.PROFILE_CALLERS;
if (callersOf) {
  const chains = new Map<string, number>();
  for (const [id, dt] of selfByNode) {
    if (byId.get(id)!.callFrame.functionName !== callersOf) continue;
    const frames: string[] = [];
    for (let at = parent.get(id); at !== undefined && frames.length < 4; at = parent.get(at)) frames.push(label(byId.get(at)!));
    add(chains, frames.join(' < '), dt);
  }
  print(`callers of ${callersOf}`, chains);
}
