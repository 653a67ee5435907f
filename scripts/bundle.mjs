// `npm run bundle`: the operator as the image runs it — src/main.ts and the production code it
// imports, bundled by esbuild into dist/bundle/ (an entry file, lazily loaded chunks, and the
// licences of every bundled package). No node_modules/ is needed next to it.
// `npm run bundle -- simulators`: the provider simulators (test/simulators/main.ts) the same way,
// into dist/simulators/, for the Dockerfile's `simulators` target (the container tests).
// `--outdir=DIR` writes elsewhere (the bundle test).
//
// Plain JavaScript run by whatever `node` is on PATH (esbuild needs Node 18+), so the image's
// build stage can run it without scripts/with-node.sh, which is not in the build context.
//
// What bundling has to respect in the dependencies (test/integration/bundle.test.ts starts the
// bundle away from node_modules; containers.test.ts and the ship check start the image):
// - @kubernetes/client-node is imported dynamically, and only for exec/auth-provider kubeconfigs
//   (src/runtime/kube-access.ts): code splitting keeps it in its own chunk, loaded only then, so
//   the operator neither parses nor holds its ~16 MB of generated API code.
// - CommonJS dependencies (pino, prom-client, ws, …) call require() for Node built-ins; in an ESM
//   bundle that needs a real `require`, which the banner provides.
// - pino's worker-thread transports (thread-stream + a worker file resolved on disk) do not
//   survive bundling; the operator never uses them (src/runtime/logger.ts writes JSON to stdout
//   synchronously). One configured later would fail at start, or write nowhere the bundle test
//   looks: it reads the operator's JSON lines from stdout.
// - ws's optional native add-ons (bufferutil, utf-8-validate) are absent: ws falls back to JS.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const targets = {
  operator: { entry: 'src/main.ts', outdir: join(root, 'dist', 'bundle') },
  simulators: { entry: 'test/simulators/main.ts', outdir: join(root, 'dist', 'simulators') },
};
const name = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'operator';
const target = targets[name];
if (!target) throw new Error(`bundle: unknown target "${name}" (known: ${Object.keys(targets).join(', ')})`);
const outdir = resolve(process.argv.find((a) => a.startsWith('--outdir='))?.slice('--outdir='.length) ?? target.outdir);

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: target.entry },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  outExtension: { '.js': '.mjs' }, // ESM without a package.json beside it
  chunkNames: 'chunks/[name]-[hash]',
  // Whitespace and syntax only: names stay readable in stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none', // the full licence texts go to THIRD-PARTY-LICENSES.txt below
  banner: { js: "import { createRequire as __tokenOperatorRequire } from 'node:module'; const require = __tokenOperatorRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});

writeFileSync(join(outdir, 'THIRD-PARTY-LICENSES.txt'), licences(Object.keys(result.metafile.inputs)));
// for the bundle test: which inputs went into which output
if (process.argv.includes('--metafile')) writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
const files = Object.entries(result.metafile.outputs).map(([f, o]) => `${relative(root, f)} ${(o.bytes / 1e6).toFixed(2)} MB`);
console.log(`bundle: ${files.join(', ')}`);

/** The licence text of every npm package whose code is in the bundle, one after another. */
function licences(inputs) {
  const packages = new Map();
  for (const input of inputs) {
    const dir = packageDir(join(root, input));
    if (dir && !packages.has(dir)) packages.set(dir, JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')));
  }
  const sections = [...packages].sort(([, a], [, b]) => a.name.localeCompare(b.name)).map(([dir, pkg]) => {
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `License: ${pkg.license ?? 'see the package'}`;
    return `${pkg.name}@${pkg.version}\n${'-'.repeat(72)}\n${text}\n`;
  });
  return `Packages bundled into token-operator's image, and their licences.\n\n${sections.join('\n')}`;
}

/** The node_modules package a bundled file belongs to (its nearest package.json with a name). */
function packageDir(file) {
  if (!file.includes(`${join('node_modules')}/`)) return undefined;
  for (let dir = dirname(file); dir.includes('node_modules'); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name) return dir;
  }
  return undefined;
}
