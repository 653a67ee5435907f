import { readFileSync } from 'node:fs';
interface Node { id: number; callFrame: { functionName: string; url: string }; children?: number[] }
const prof = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const by = new Map<string, number>();
for (const n of prof.nodes) {
  const u = n.callFrame.url;
  let k = u.includes('node_modules/') ? 'pkg:' + u.split('node_modules/').pop()!.split('/').slice(0, u.includes('node_modules/@') ? 2 : 1).join('/') : u.includes('/dist/') ? 'dist:' + u.split('/dist/')[1] : u.startsWith('node:') ? 'node:' + u.slice(5).split('/')[0] : (n.callFrame.functionName || '(native)');
  by.set(k, (by.get(k) ?? 0) + (self.get(n.id) ?? 0));
}
const total = [...by.values()].reduce((a, b) => a + b, 0);
for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${((v / total) * 100).toFixed(1).padStart(5)}% ${(v / 1e6).toFixed(2).padStart(6)}s ${k}`);
