// scripts/check-deps.js: import cycles, files over the line limit, upward imports and admin <-> transport are found; recorded exceptions pass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { check, cycles, importsOf, layerOf, type Exceptions } from '../../../scripts/check-deps.js';

/** check() over an in-memory tree, with the recorded exceptions of scripts/dependency-rules.js or the given ones. */
function checkTree(tree: Record<string, string>, exceptions?: Exceptions) {
  return check(Object.keys(tree), (file) => tree[file], exceptions);
}

/** Two recorded line-limit exceptions: one for a file still over the limit, one for a file no longer there. */
const RECORDED: Exceptions = { lines: { 'test/integration/long.test.ts': 485, 'test/integration/split.test.ts': 538 }, imports: {} };

describe('dependency rules', () => {
  it('reads static, re-exported, type-only, multi-line and dynamic relative imports', () => {
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from '../b/b.ts';",
      'import {',
      '  c,',
      '  d,',
      "} from './cd.ts';",
      "export * from './e.ts';",
      "import 'node:fs';",
      "const f = await import('./f.ts');",
    ].join('\n');
    assert.deepEqual(importsOf('src/x/y.ts', text), [
      { to: 'src/x/a.ts', typeOnly: false },
      { to: 'src/b/b.ts', typeOnly: true },
      { to: 'src/x/cd.ts', typeOnly: false },
      { to: 'src/x/e.ts', typeOnly: false },
      { to: 'src/x/f.ts', typeOnly: false },
    ]);
  });

  it('finds cycles, not shared imports', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a', 'e']],
      ['e', []],
      ['s', ['s']],
    ]);
    assert.deepEqual(cycles(graph), [['a', 'b', 'c'], ['s']]);
  });

  it('fails an import cycle, an upward import, an import between admin and transport, and a file over 400 lines', () => {
    assert.ok((layerOf('ledger') ?? -1) < (layerOf('pipeline') ?? -1), 'the ledger sits below the request path');
    const { problems } = checkTree({
      'src/ledger/one.ts': "import { two } from './two.ts';\n",
      'src/ledger/two.ts': "import { one } from './one.ts';\n",
      'src/ledger/up.ts': "import { handleModelCall } from '../pipeline/handle.ts';\n",
      'src/admin/new.ts': "import { bodyOf } from '../transport/body.ts';\n",
      'src/pricing/long.ts': 'const x = 1;\n'.repeat(401),
    });
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems.find((line) => line.startsWith('import cycle')) ?? '', /src\/ledger\/one\.ts -> src\/ledger\/two\.ts/);
    assert.ok(
      problems.some((line) => /^src\/ledger\/up\.ts -> src\/pipeline\/handle\.ts: upward import/.test(line)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((line) => /^src\/admin\/new\.ts -> src\/transport\/body\.ts: no imports between src\/admin and src\/transport/.test(line)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((line) => /^src\/pricing\/long\.ts: 401 lines, over 400/.test(line)),
      problems.join('\n'),
    );
  });

  it('lets a type-only cycle, a downward import and a recorded exception pass, and names exceptions no longer needed', () => {
    const { problems, stale } = checkTree(
      {
        'src/ledger/one.ts': "import type { Two } from './two.ts';\n",
        'src/ledger/two.ts': "import type { One } from './one.ts';\n",
        'src/pipeline/down.ts': "import { Ledger } from '../ledger/one.ts';\n",
        'src/api/server.ts': "import { handleModelCall } from '../pipeline/handle.ts';\n",
        'test/integration/long.test.ts': 'x\n'.repeat(450),
      },
      RECORDED,
    );
    assert.deepEqual(problems, []);
    assert.ok(stale.includes('line limit exception for test/integration/split.test.ts'), stale.join('\n'));
    assert.ok(!stale.some((line) => line.includes('long.test')), stale.join('\n'));
  });

  it('holds a file over the limit to the length recorded for it', () => {
    const { problems } = checkTree({ 'test/integration/long.test.ts': 'x\n'.repeat(486) }, RECORDED);
    assert.match(problems.join('\n'), /long\.test\.ts: 486 lines, over the 485 recorded for it/);
  });

  it('fails a request-path function over 60 lines, and leaves functions elsewhere and shorter ones alone', () => {
    const long = (name: string, lines: number) => `export function ${name}() {\n${'  step();\n'.repeat(lines - 2)}}\n`;
    const { problems } = checkTree({
      'src/pipeline/long.ts': long('tooLong', 61) + long('fits', 60),
      'src/budget/engine.ts': `class Engine {\n  admit() {\n${'    step();\n'.repeat(60)}  }\n}\n`,
      'src/admin/long.ts': long('elsewhere', 90),
    });
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0] ?? '', /^src\/pipeline\/long\.ts:1: function tooLong is 61 lines, over 60 on the request path/);
    assert.match(problems[1] ?? '', /^src\/budget\/engine\.ts:2: function admit is 62 lines/);
  });
});
