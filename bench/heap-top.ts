/**
 * What holds a V8 heap snapshot's memory:
 * `tsx bench/heap-top.ts FILE [--top=25] [--class=A,B] [--field=a,b] [--samples] [--tree=N] [--depth=4] [--holders=Timeout]`.
 *
 * Take one from the bench (`npm run bench -- --sizes=1000 --quick --heap-snapshot-dir=DIR`), or from
 * any Node process started with `--heapsnapshot-signal=SIGUSR2` (then `kill -USR2 PID`).
 *
 * Prints:
 *  1. totals;
 *  2. by constructor (Chrome DevTools' "Summary"): instances, self size, and retained size
 *     (objects nested in another instance of the same constructor counted once);
 *  3. the largest single objects by retained size, each with its dominator path from the roots;
 *  4. the fields of the operator's key structures (--class, default: Informer, KubeEventRecorder,
 *     OperatorMetrics, Gauge, Counter, Histogram, WorkQueue, Controller, KubeClient, Agent), with
 *     the retained size of what each field holds;
 *  5. fields and closure variables with a given name anywhere in the heap (--field: caches kept
 *     in closures, e.g. the zDirect token cache), largest first;
 *  6. strings held more than once (same text in many copies), by total size;
 *  7. with --samples, one median value of every large Map in the key structures (e.g. one cached
 *     object of each informer) as a tree of what it holds; --tree=N prints that tree for the
 *     object @N (the @numbers above), --depth=4 by default;
 *  8. with --holders=Constructor, what holds its instances (dominator paths, grouped).
 *
 * Retained size = what a GC would free if the object went away (dominator tree over the strong
 * edges: weak and shortcut edges are ignored, as in DevTools). Self sizes are V8's: strings,
 * objects, arrays and code on the JS heap; native memory (Buffers' backing stores, sockets) shows
 * only where V8 records it (system / JSArrayBufferData).
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: tsx bench/heap-top.ts FILE.heapsnapshot [--top=25] [--class=A,B] [--field=a,b] [--samples] [--tree=N] [--depth=4] [--holders=Constructor]');
  process.exit(2);
}
const opt = (name: string, def: string) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? def : a.slice(name.length + 3);
};
const TOP = Number(opt('top', '25'));
const CLASSES = new Set(
  opt('class', 'Informer,InformerSet,KubeEventRecorder,OperatorMetrics,Gauge,Counter,Histogram,WorkQueue,Controller,KubeClient,Agent,Registry,TokenBucket').split(','),
);
const FIELDS = new Set(
  opt('field', 'store,seen,hashMap,delayed,failures,dirty,processing,queue,cache,inFlight,keys,pending,retryNotBefore,sockets,freeSockets,requests,byHost,buckets').split(','),
);

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] };
    node_count: number;
    edge_count: number;
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const t0 = performance.now();
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const meta = snap.snapshot.meta;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const nTypeF = meta.node_fields.indexOf('type');
const nNameF = meta.node_fields.indexOf('name');
const nSizeF = meta.node_fields.indexOf('self_size');
const nEdgesF = meta.node_fields.indexOf('edge_count');
const eTypeF = meta.edge_fields.indexOf('type');
const eNameF = meta.edge_fields.indexOf('name_or_index');
const eToF = meta.edge_fields.indexOf('to_node');
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const strings = snap.strings;
const N = snap.nodes.length / NF;
const E = snap.edges.length / EF;

const nodes = Int32Array.from(snap.nodes);
const edgesRaw = Int32Array.from(snap.edges);
snap.nodes = [];
snap.edges = [];

const at = (a: Int32Array | Float64Array | Uint8Array | Uint32Array, i: number): number => a[i] as number;
const nodeType = (n: number) => nodeTypes[at(nodes, n * NF + nTypeF)] ?? '?';
const nodeName = (n: number) => strings[at(nodes, n * NF + nNameF)] ?? '';
const selfSize = (n: number) => at(nodes, n * NF + nSizeF);

// edges as CSR: first edge of node n is firstEdge[n]; targets as node ordinals
const firstEdge = new Uint32Array(N + 1);
for (let n = 0, e = 0; n < N; n++) {
  firstEdge[n] = e;
  e += at(nodes, n * NF + nEdgesF);
  firstEdge[n + 1] = e;
}
const edgeTo = new Uint32Array(E);
const edgeType = new Uint8Array(E);
const edgeName = new Int32Array(E);
for (let e = 0; e < E; e++) {
  edgeTo[e] = at(edgesRaw, e * EF + eToF) / NF;
  edgeType[e] = at(edgesRaw, e * EF + eTypeF);
  edgeName[e] = at(edgesRaw, e * EF + eNameF);
}
const WEAK = edgeTypes.indexOf('weak');
const SHORTCUT = edgeTypes.indexOf('shortcut');
const strong = (e: number) => at(edgeType, e) !== WEAK && at(edgeType, e) !== SHORTCUT;
const edgeLabel = (e: number): string => {
  const t = edgeTypes[at(edgeType, e)] ?? '?';
  const v = at(edgeName, e);
  if (t === 'element' || t === 'hidden') return `[${v}]`;
  return strings[v] ?? `#${v}`;
};

/** DevTools-like class name: constructor for objects, a bracketed kind for the rest. */
function className(n: number): string {
  const t = nodeType(n);
  switch (t) {
    case 'object':
    case 'native':
      return nodeName(n) || '(anonymous object)';
    case 'closure':
      return '(closure)';
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(string)';
    case 'code':
      return '(compiled code)';
    case 'array':
      return `(array ${nodeName(n).replace(/^\((.*)\)$/, '$1') || 'elements'})`;
    case 'hidden':
      return `(system ${nodeName(n).replace(/^system \/ /, '') || '?'})`;
    case 'object shape':
      return '(object shape)';
    default:
      return `(${t})`;
  }
}

/** One-line description of a node for paths and tables. */
function label(n: number): string {
  const t = nodeType(n);
  if (t === 'string' || t === 'concatenated string' || t === 'sliced string') return `"${nodeName(n).slice(0, 40).replace(/\n/g, ' ')}"`;
  if (t === 'closure') return `${nodeName(n) || '(anonymous)'}()`;
  return className(n);
}

// --- DFS postorder from the root (node 0) over strong edges
const post = new Int32Array(N).fill(-1); // postorder number per node
const order = new Uint32Array(N); // node per postorder number
let reached = 0;
{
  const visited = new Uint8Array(N);
  const stackNode = new Uint32Array(N);
  const stackEdge = new Uint32Array(N);
  let sp = 0;
  stackNode[0] = 0;
  stackEdge[0] = at(firstEdge, 0);
  visited[0] = 1;
  sp = 1;
  while (sp > 0) {
    const n = at(stackNode, sp - 1);
    const e = at(stackEdge, sp - 1);
    if (e < at(firstEdge, n + 1)) {
      stackEdge[sp - 1] = e + 1;
      if (!strong(e)) continue;
      const m = at(edgeTo, e);
      if (visited[m]) continue;
      visited[m] = 1;
      stackNode[sp] = m;
      stackEdge[sp] = at(firstEdge, m);
      sp++;
    } else {
      post[n] = reached;
      order[reached++] = n;
      sp--;
    }
  }
}

// --- predecessors (strong edges between reachable nodes), CSR
const predStart = new Uint32Array(N + 1);
for (let n = 0; n < N; n++) {
  if (at(post, n) < 0) continue;
  for (let e = at(firstEdge, n); e < at(firstEdge, n + 1); e++) if (strong(e) && at(post, at(edgeTo, e)) >= 0) predStart[at(edgeTo, e) + 1]!++;
}
for (let n = 0; n < N; n++) predStart[n + 1]! += at(predStart, n);
const preds = new Uint32Array(at(predStart, N));
{
  const fill = predStart.slice(0, N);
  for (let n = 0; n < N; n++) {
    if (at(post, n) < 0) continue;
    for (let e = at(firstEdge, n); e < at(firstEdge, n + 1); e++) {
      const m = at(edgeTo, e);
      if (strong(e) && at(post, m) >= 0) preds[fill[m]!++] = n;
    }
  }
}

// --- immediate dominators (Cooper, Harvey, Kennedy), on postorder numbers
const ROOT_PO = at(post, 0);
const idomPo = new Int32Array(reached).fill(-1);
idomPo[ROOT_PO] = ROOT_PO;
for (let changed = true; changed; ) {
  changed = false;
  for (let po = reached - 1; po >= 0; po--) {
    if (po === ROOT_PO) continue;
    const n = at(order, po);
    let nd = -1;
    for (let i = at(predStart, n); i < at(predStart, n + 1); i++) {
      let p = at(post, at(preds, i));
      if (at(idomPo, p) < 0) continue;
      if (nd < 0) {
        nd = p;
        continue;
      }
      let q = nd;
      while (p !== q) {
        while (p < q) p = at(idomPo, p);
        while (q < p) q = at(idomPo, q);
      }
      nd = p;
    }
    if (nd >= 0 && at(idomPo, po) !== nd) {
      idomPo[po] = nd;
      changed = true;
    }
  }
}

// --- retained sizes: a dominator has a higher postorder number than what it dominates
const retained = new Float64Array(N);
for (let po = 0; po < reached; po++) retained[at(order, po)] = selfSize(at(order, po));
for (let po = 0; po < reached; po++) {
  if (po === ROOT_PO) continue;
  const d = at(order, at(idomPo, po));
  retained[d]! += at(retained, at(order, po));
}
const idom = (n: number) => at(order, at(idomPo, at(post, n)));

// dominator tree children (CSR), for the per-class retained sum
const childStart = new Uint32Array(N + 1);
for (let po = 0; po < reached; po++) if (po !== ROOT_PO) childStart[idom(at(order, po)) + 1]!++;
for (let n = 0; n < N; n++) childStart[n + 1]! += at(childStart, n);
const children = new Uint32Array(at(childStart, N));
{
  const fill = childStart.slice(0, N);
  for (let po = 0; po < reached; po++) if (po !== ROOT_PO) children[fill[idom(at(order, po))]!++] = at(order, po);
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
const kib = (b: number) => (b >= 2 ** 20 ? mib(b) : `${(b / 1024).toFixed(1)} KiB`);
const pad = (s: string | number, w: number) => String(s).padStart(w);

// --- 1. totals
let total = 0;
for (let n = 0; n < N; n++) total += selfSize(n);
console.log(`${file}: ${N} nodes, ${E} edges, ${mib(total)} self size in total (${reached} reachable from the roots); parsed in ${((performance.now() - t0) / 1000).toFixed(1)}s`);

// --- 2. by class
const classId = new Map<string, number>();
const classNames: string[] = [];
const nodeClass = new Uint32Array(N);
for (let n = 0; n < N; n++) {
  const c = className(n);
  let id = classId.get(c);
  if (id === undefined) {
    id = classNames.length;
    classId.set(c, id);
    classNames.push(c);
  }
  nodeClass[n] = id;
}
const C = classNames.length;
const cCount = new Float64Array(C);
const cSelf = new Float64Array(C);
const cRetained = new Float64Array(C);
for (let n = 0; n < N; n++) {
  cCount[at(nodeClass, n)]!++;
  cSelf[at(nodeClass, n)]! += selfSize(n);
}
{
  // walk the dominator tree; an instance counts unless an instance of its class dominates it
  const onPath = new Uint32Array(C);
  const stackNode = new Uint32Array(reached);
  const stackChild = new Uint32Array(reached);
  let sp = 0;
  stackNode[0] = 0;
  stackChild[0] = at(childStart, 0);
  onPath[at(nodeClass, 0)]!++;
  cRetained[at(nodeClass, 0)]! += at(retained, 0);
  sp = 1;
  while (sp > 0) {
    const n = at(stackNode, sp - 1);
    const i = at(stackChild, sp - 1);
    if (i < at(childStart, n + 1)) {
      stackChild[sp - 1] = i + 1;
      const m = at(children, i);
      const c = at(nodeClass, m);
      if (at(onPath, c) === 0) cRetained[c]! += at(retained, m);
      onPath[c]!++;
      stackNode[sp] = m;
      stackChild[sp] = at(childStart, m);
      sp++;
    } else {
      onPath[at(nodeClass, n)]!--;
      sp--;
    }
  }
}
console.log(`\n## by constructor, top ${TOP} by self size (retained: not counting instances nested in another of the same constructor)`);
console.log(`${pad('count', 9)} ${pad('self', 12)} ${pad('retained', 12)}  constructor`);
const byClass = Array.from({ length: C }, (_, c) => c).sort((a, b) => at(cSelf, b) - at(cSelf, a));
for (const c of byClass.slice(0, TOP)) console.log(`${pad(at(cCount, c), 9)} ${pad(kib(at(cSelf, c)), 12)} ${pad(kib(at(cRetained, c)), 12)}  ${classNames[c]}`);
console.log(`\n## by constructor, top ${TOP} by retained size (objects and closures only)`);
const byRetained = Array.from({ length: C }, (_, c) => c)
  .filter((c) => !classNames[c]!.startsWith('(') || classNames[c] === '(closure)')
  .sort((a, b) => at(cRetained, b) - at(cRetained, a));
for (const c of byRetained.slice(0, TOP)) console.log(`${pad(at(cCount, c), 9)} ${pad(kib(at(cSelf, c)), 12)} ${pad(kib(at(cRetained, c)), 12)}  ${classNames[c]}`);

/** the dominator chain from the root, with the edge names where an edge joins two links */
function path(n: number): string {
  const chain: number[] = [];
  for (let m = n; m !== 0 && chain.length < 40; m = idom(m)) chain.push(m);
  chain.reverse();
  const parts: string[] = [];
  let prev = 0;
  for (const m of chain) {
    let via = '';
    for (let e = at(firstEdge, prev); e < at(firstEdge, prev + 1); e++) {
      if (at(edgeTo, e) === m) {
        via = edgeLabel(e);
        break;
      }
    }
    parts.push(via ? `.${via}` : ' ~> ');
    parts.push(`(${label(m)})`);
    prev = m;
  }
  return parts.join('').replace(/^\.|^ ~> /, '');
}

// --- 3. largest objects: the deepest ones that still retain at least 1 % of the heap
console.log(`\n## largest retainers: objects retaining >= 1 % of the heap whose dominated children are each below that`);
{
  const threshold = total * 0.01;
  const big: number[] = [];
  for (let n = 0; n < N; n++) {
    if (at(post, n) < 0 || at(retained, n) < threshold) continue;
    const t = nodeType(n);
    if (t === 'synthetic' || t === 'hidden' || n === 0) continue;
    big.push(n);
  }
  // keep a node if no dominated descendant in the list has most of its size (shows the specific holder)
  const shown = big
    .filter((n) => {
      for (let i = at(childStart, n); i < at(childStart, n + 1); i++) if (at(retained, at(children, i)) >= at(retained, n) * 0.8) return false;
      return true;
    })
    .sort((a, b) => at(retained, b) - at(retained, a))
    .slice(0, TOP);
  for (const n of shown) console.log(`${pad(kib(at(retained, n)), 12)}  ${path(n)}`);
}

// --- 4. key structures
console.log(`\n## key structures (${[...CLASSES].join(', ')}): each field's retained size`);
{
  const inst: number[] = [];
  for (let n = 0; n < N; n++) if (at(post, n) >= 0 && nodeType(n) === 'object' && CLASSES.has(nodeName(n))) inst.push(n);
  inst.sort((a, b) => at(retained, b) - at(retained, a));
  const byName = new Map<string, number>();
  for (const n of inst) {
    // many instances of one class (Gauge, Counter, Agent): show the 6 largest
    const k = nodeName(n);
    const seen = byName.get(k) ?? 0;
    byName.set(k, seen + 1);
    if (seen >= 6) continue;
    const fields: Array<[string, number]> = [];
    for (let e = at(firstEdge, n); e < at(firstEdge, n + 1); e++) {
      const t = edgeTypes[at(edgeType, e)];
      if (t !== 'property' && t !== 'internal' && t !== 'context') continue;
      const m = at(edgeTo, e);
      const name = edgeLabel(e);
      if (name === 'map' || name === '__proto__') continue;
      // only what this object holds alone is its cost
      const own = idom(m) === n ? at(retained, m) : 0;
      fields.push([`${name}: ${label(m)}${own ? '' : ' (shared)'}`, own]);
    }
    fields.sort((a, b) => b[1] - a[1]);
    const name = nodeName(n);
    const hint = name === 'Gauge' || name === 'Counter' || name === 'Histogram' ? fieldString(n, 'name') : '';
    console.log(`${pad(kib(at(retained, n)), 12)}  ${name}${hint ? ` ${hint}` : ''} @${n}`);
    for (const [f, size] of fields.slice(0, 8)) if (size > 0) console.log(`${pad(kib(size), 24)}    .${f}`);
  }
  for (const [k, c] of byName) if (c > 6) console.log(`  (${c} instances of ${k}; 6 shown)`);
}

function fieldString(n: number, field: string): string {
  for (let e = at(firstEdge, n); e < at(firstEdge, n + 1); e++) {
    if (edgeLabel(e) === field) {
      const m = at(edgeTo, e);
      return nodeType(m).includes('string') ? nodeName(m) : '';
    }
  }
  return '';
}

// --- 5. named fields and closure variables anywhere
console.log(`\n## fields / closure variables named ${[...FIELDS].join(', ')} (>= 8 KiB, held alone)`);
{
  const rows: Array<[number, string]> = [];
  for (let n = 0; n < N; n++) {
    if (at(post, n) < 0) continue;
    for (let e = at(firstEdge, n); e < at(firstEdge, n + 1); e++) {
      const t = edgeTypes[at(edgeType, e)];
      if (t !== 'property' && t !== 'context') continue;
      const name = edgeLabel(e);
      if (!FIELDS.has(name)) continue;
      const m = at(edgeTo, e);
      if (idom(m) !== n || at(retained, m) < 8192) continue;
      const owner = t === 'context' ? `closure scope of ${closureOf(n)}` : label(n);
      rows.push([at(retained, m), `${owner} .${name}: ${label(m)} @${m}`]);
    }
  }
  rows.sort((a, b) => b[0] - a[0]);
  for (const [size, s] of rows.slice(0, TOP)) console.log(`${pad(kib(size), 12)}  ${s}`);
}

/** a function whose context a scope is (for closure variables) */
function closureOf(ctx: number): string {
  // closures point at their context with an internal "context" edge: search the predecessors
  for (let i = at(predStart, ctx); i < at(predStart, ctx + 1); i++) {
    const p = at(preds, i);
    if (nodeType(p) === 'closure') return `${nodeName(p) || '(anonymous)'}()`;
  }
  return 'a function';
}

// --- 6. duplicated strings
console.log(`\n## strings held in more than one copy, top ${TOP} by total size`);
{
  const dup = new Map<string, { count: number; size: number }>();
  for (let n = 0; n < N; n++) {
    if (at(post, n) < 0 || nodeType(n) !== 'string') continue;
    const s = nodeName(n);
    const d = dup.get(s) ?? { count: 0, size: 0 };
    d.count++;
    d.size += selfSize(n);
    dup.set(s, d);
  }
  const rows = [...dup].filter(([, d]) => d.count > 1).sort((a, b) => b[1].size - a[1].size);
  let wasted = 0;
  for (const [, d] of rows) wasted += (d.size * (d.count - 1)) / d.count;
  console.log(`(${mib(wasted)} in copies beyond the first)`);
  for (const [s, d] of rows.slice(0, TOP)) console.log(`${pad(d.count, 9)} × ${pad(kib(d.size / d.count), 10)} = ${pad(kib(d.size), 12)}  "${s.slice(0, 70).replace(/\n/g, ' ')}"`);
}

// --- 7. what one object is made of: --tree=N (N: the @number printed above) and, for each
// Map field of the key structures, one sample value (--samples)
const TREE = opt('tree', '');
const SAMPLES = args.includes('--samples');
const DEPTH = Number(opt('depth', '4'));

/** one value of a Map: the table's elements alternate key/value (hash table layout) */
function mapValues(map: number): number[] {
  let table = -1;
  for (let e = at(firstEdge, map); e < at(firstEdge, map + 1); e++) if (edgeLabel(e) === 'table') table = at(edgeTo, e);
  if (table < 0) return [];
  const out: number[] = [];
  for (let e = at(firstEdge, table); e < at(firstEdge, table + 1); e++) {
    const m = at(edgeTo, e);
    if (nodeType(m) === 'object' && idom(m) === table) out.push(m);
  }
  return out;
}

function tree(n: number, depth: number, indent = '', via = ''): void {
  const t = nodeType(n);
  const extra = t === 'string' ? '' : ` ${t}`;
  console.log(`${pad(at(retained, n), 7)} ${pad(selfSize(n), 5)}  ${indent}${via}${label(n)}${extra}`);
  if (depth <= 0) return;
  // the dominator tree's children: what this object alone keeps alive (named by the edge when one joins them)
  const kids: Array<[string, number]> = [];
  for (let i = at(childStart, n); i < at(childStart, n + 1); i++) {
    const m = at(children, i);
    let name = '~> ';
    for (let e = at(firstEdge, n); e < at(firstEdge, n + 1); e++) {
      if (at(edgeTo, e) === m) {
        name = `${edgeLabel(e)}: `;
        break;
      }
    }
    kids.push([name, m]);
  }
  kids.sort((a, b) => at(retained, b[1]) - at(retained, a[1]));
  for (const [name, m] of kids.slice(0, 12)) tree(m, depth - 1, `${indent}  `, name);
  if (kids.length > 12) console.log(`${pad('', 13)}  ${indent}  … ${kids.length - 12} more`);
}

if (TREE || SAMPLES) console.log(`\n## object trees (retained bytes, self bytes, what it holds alone)`);
if (TREE) tree(Number(TREE.replace(/^@/, '')), DEPTH);
if (SAMPLES) {
  for (let n = 0; n < N; n++) {
    if (at(post, n) < 0 || nodeType(n) !== 'object' || !CLASSES.has(nodeName(n))) continue;
    for (let e = at(firstEdge, n); e < at(firstEdge, n + 1); e++) {
      const m = at(edgeTo, e);
      if (nodeName(m) !== 'Map' || idom(m) !== n) continue;
      const values = mapValues(m).sort((a, b) => at(retained, a) - at(retained, b));
      if (values.length < 100) continue;
      const median = values[Math.floor(values.length / 2)]!;
      console.log(`\n${nodeName(n)}.${edgeLabel(e)}: ${values.length} values, median retained ${at(retained, median)} bytes; the median one:`);
      tree(median, DEPTH);
    }
  }
}

// --- 8. who holds the instances of a constructor: --holders=Timeout (dominator paths, grouped)
const HOLDERS = opt('holders', '');
if (HOLDERS) {
  console.log(`\n## what holds the ${HOLDERS} instances (dominator paths from the roots, element indexes folded)`);
  const groups = new Map<string, { count: number; retained: number; example: number }>();
  for (let n = 0; n < N; n++) {
    if (at(post, n) < 0 || className(n) !== HOLDERS) continue;
    const p = path(n).replace(/\.\[\d+\]/g, '.[]');
    const g = groups.get(p) ?? { count: 0, retained: 0, example: n };
    g.count++;
    g.retained += at(retained, n);
    groups.set(p, g);
  }
  for (const [p, g] of [...groups].sort((a, b) => b[1].retained - a[1].retained).slice(0, TOP)) console.log(`${pad(g.count, 7)} ${pad(kib(g.retained), 12)}  ${p}  (e.g. @${g.example})`);
}
