// Dependency rule check run by `npm test`: no import cycles, no file (or request-path function) over its line limit, imports only down the layers.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { FORBIDDEN, LAYERS, LINE_EXCEPTIONS, LINE_LIMITED, MAX_FUNCTION_LINES, MAX_LINES, IMPORT_EXCEPTIONS, REQUEST_PATH } from './dependency-rules.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SOURCE = /\.(ts|js)$/;
const IMPORT = /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[\w*{}\s,$]+\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function walk(dir, out = []) {
  for (const name of readdirSync(join(ROOT, dir)).sort()) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) walk(path, out);
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Relative imports of one file: `{ to, typeOnly }`, `to` a path from the repository root. */
export function importsOf(file, text) {
  const found = [];
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[2] ?? match[3];
    found.push({ to: normalize(join(dirname(file), spec)), typeOnly: Boolean(match[1]) });
  }
  return found;
}

/** The layer a src/ file belongs to: its folder under src/, or its own name for files at the top of src/. */
export function moduleOf(file) {
  const parts = file.split('/');
  if (parts[0] !== 'src') return null;
  return parts.length === 2 ? parts[1].replace(SOURCE, '') : parts[1];
}

export function layerOf(module) {
  const index = LAYERS.findIndex((layer) => layer.modules.includes(module));
  return index < 0 ? null : index;
}

/** Every cycle among `graph`'s files (Tarjan's strongly connected components of more than one file, or a self-import). */
export function cycles(graph) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (node) => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), index.get(next)));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node).includes(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/**
 * Every broken rule, as lines; and the recorded exceptions that no longer occur. `exceptions`: the recorded ones
 * (default: scripts/dependency-rules.js's; its test passes its own).
 */
export function check(files, read, exceptions = { lines: LINE_EXCEPTIONS, imports: IMPORT_EXCEPTIONS }) {
  const problems = [];
  const used = new Set();
  const graph = new Map();
  for (const file of files) {
    const text = read(file);
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (LINE_LIMITED.some((dir) => file.startsWith(`${dir}/`)) && lines > MAX_LINES) {
      const allowed = exceptions.lines[file];
      if (allowed === undefined) problems.push(`${file}: ${lines} lines, over ${MAX_LINES}: split it by job`);
      else {
        used.add(`lines:${file}`);
        if (lines > allowed) problems.push(`${file}: ${lines} lines, over the ${allowed} recorded for it: split it, do not grow it`);
      }
    }
    if (REQUEST_PATH.some((path) => file === path || (path.endsWith('/') && file.startsWith(path)))) {
      for (const fn of longFunctions(file, text))
        problems.push(`${file}:${fn.line}: function ${fn.name} is ${fn.lines} lines, over ${MAX_FUNCTION_LINES} on the request path: split it by step`);
    }
    const imports = importsOf(file, text);
    graph.set(
      file,
      imports.filter((edge) => !edge.typeOnly).map((edge) => edge.to),
    );
    const from = moduleOf(file);
    if (from === null) continue;
    if (layerOf(from) === null) problems.push(`${file}: src/${from} has no layer in scripts/dependency-rules.js`);
    for (const { to } of imports) {
      const target = moduleOf(to);
      if (target === null || target === from) continue;
      const rule = brokenRule(from, target);
      if (!rule) continue;
      const key = `${file} -> ${to}`;
      if (exceptions.imports[key]) used.add(`import:${key}`);
      else problems.push(`${key}: ${rule}`);
    }
  }
  for (const cycle of cycles(graph)) problems.push(`import cycle: ${cycle.join(' -> ')}`);
  const stale = [
    ...Object.keys(exceptions.lines)
      .filter((file) => !used.has(`lines:${file}`))
      .map((file) => `line limit exception for ${file}`),
    ...Object.keys(exceptions.imports)
      .filter((key) => !used.has(`import:${key}`))
      .map((key) => `import exception ${key}`),
  ];
  return { problems, stale };
}

/** Functions (declarations, methods, arrows) longer than MAX_FUNCTION_LINES, from the first line of their head to their end. */
export function longFunctions(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const lines = source.getLineAndCharacterOfPosition(node.end).line - first + 1;
      if (lines > MAX_FUNCTION_LINES) found.push({ name: node.name?.getText(source) ?? '(anonymous)', line: first + 1, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function brokenRule(from, to) {
  const forbidden = FORBIDDEN.find(([a, b]) => (a === from && b === to) || (a === to && b === from));
  if (forbidden) return `no imports between src/${forbidden[0]} and src/${forbidden[1]}`;
  const [fromLayer, toLayer] = [layerOf(from), layerOf(to)];
  if (fromLayer === null || toLayer === null) return null;
  return toLayer > fromLayer ? `upward import: ${from} (${LAYERS[fromLayer].name}) may not import ${to} (${LAYERS[toLayer].name})` : null;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const files = ['src', 'test', 'bench', 'scripts', 'bin'].flatMap((dir) => walk(dir));
  const { problems, stale } = check(files, (file) => readFileSync(join(ROOT, file), 'utf8'));
  for (const line of stale) console.log(`check-deps: no longer needed, remove from scripts/dependency-rules.js: ${line}`);
  for (const line of problems) console.error(`check-deps: ${line}`);
  console.log(`check-deps: ${files.length} files, ${problems.length} rule(s) broken`);
  process.exit(problems.length === 0 ? 0 : 1);
}
