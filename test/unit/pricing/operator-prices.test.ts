// Tests for the operator price file: valid files, and errors that name the file and the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOperatorPrices, parseOperatorPrices } from '../../../src/pricing/operator-prices.ts';

test('loads a valid file; keys are case-insensitive; optional cache rates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-prices-'));
  const file = join(dir, 'prices.json');
  writeFileSync(
    file,
    JSON.stringify({
      models: {
        'OpenAI/GPT-4o': { input_per_mtok: 2.5, output_per_mtok: 10, cache_read_per_mtok: 1.25 },
        'local-model': { input_per_mtok: 0, output_per_mtok: 0 },
      },
    }),
  );
  const prices = loadOperatorPrices(file);
  assert.deepEqual(
    [...prices.models.entries()],
    [
      ['openai/gpt-4o', { inputPerMTok: 2.5, outputPerMTok: 10, cacheReadPerMTok: 1.25 }],
      ['local-model', { inputPerMTok: 0, outputPerMTok: 0 }],
    ],
  );
});

test('errors name the file and the field', () => {
  const fails = (text: string, pattern: RegExp) => assert.throws(() => parseOperatorPrices(text, '/etc/tollgate/prices.json'), pattern);
  fails(
    '{"models":{"gpt-x":{"input_per_mtok":1,"output_per_mtok":"2"}}}',
    /^Error: price file \/etc\/tollgate\/prices\.json: models\["gpt-x"\]\.output_per_mtok: .*expected number/,
  );
  fails('{"models":{"gpt-x":{"input_per_mtok":-1,"output_per_mtok":2}}}', /prices\.json: models\["gpt-x"\]\.input_per_mtok: /);
  fails('{"models":{"gpt-x":{"output_per_mtok":2}}}', /models\["gpt-x"\]\.input_per_mtok: /);
  fails('{"models":{"gpt-x":{"input_per_mtok":1,"output_per_mtok":2,"cache_reads":1}}}', /models\["gpt-x"\]: .*cache_reads/);
  fails('{"model":{}}', /prices\.json: models: /);
  fails('[]', /prices\.json: \(top level\): /);
  fails('{"models": {', /prices\.json: invalid JSON/);
  fails('{"models":{"A":{"input_per_mtok":1,"output_per_mtok":1},"a":{"input_per_mtok":2,"output_per_mtok":2}}}', /models\["a"\]: duplicate/);
  assert.throws(() => loadOperatorPrices('/nonexistent/prices.json'), /price file \/nonexistent\/prices\.json: cannot read \(ENOENT\)/);
});
