// Keeps the admin API's error table (src/admin/http.ts) and the one in docs/admin-api.md in step: same codes, same statuses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ADMIN_ERROR_STATUS } from '../../../src/admin/http.ts';

/** The rows of the table headed `| code | status | when |`, up to the first line that is not a table row. */
function documentedRows(doc: string): Map<string, number> {
  const lines = doc.split('\n');
  const start = lines.findIndex((line) => /^\| code \| status \| when \|$/.test(line.trim()));
  assert.ok(start >= 0, 'docs/admin-api.md has no "| code | status | when |" table');
  const rows = new Map<string, number>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const match = /^\| `([a-z_]+)` \| (\d{3}) \|/.exec(line);
    assert.ok(match, `docs/admin-api.md: malformed error row: ${line}`);
    assert.ok(!rows.has(match[1]), `docs/admin-api.md lists ${match[1]} twice`);
    rows.set(match[1], Number(match[2]));
  }
  return rows;
}

const rows = documentedRows(readFileSync(new URL('../../../docs/admin-api.md', import.meta.url), 'utf8'));

describe('admin API error table', () => {
  it('documents every admin error code with its status', () => {
    for (const [code, status] of Object.entries(ADMIN_ERROR_STATUS)) {
      assert.ok(rows.has(code), `docs/admin-api.md lacks ${code}`);
      assert.equal(rows.get(code), status, `status of ${code}`);
    }
  });

  it('documents no code that does not exist', () => {
    for (const code of rows.keys()) assert.ok(code in ADMIN_ERROR_STATUS, `docs/admin-api.md lists unknown admin code ${code}`);
  });
});
