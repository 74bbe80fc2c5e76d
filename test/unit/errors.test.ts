// Keeps the error table in src/errors.ts and docs/errors.md in step: same codes, statuses and retry hints.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERRORS } from '../../src/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map<string, { status: number; retry: boolean }>();
for (const line of doc.split('\n')) {
  const match = /^\| `([a-z_]+)` \| (\d{3}) \| (true|false) \|/.exec(line);
  if (match) rows.set(match[1], { status: Number(match[2]), retry: match[3] === 'true' });
}

describe('error table', () => {
  it('documents every code with its status and retry hint', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      const row = rows.get(code);
      assert.ok(row, `docs/errors.md lacks ${code}`);
      assert.equal(row.status, spec.status, `status of ${code}`);
      assert.equal(row.retry, spec.retryable, `retry of ${code}`);
    }
  });

  it('documents no code that does not exist', () => {
    for (const code of rows.keys()) assert.ok(code in ERRORS, `docs/errors.md lists unknown code ${code}`);
  });
});
