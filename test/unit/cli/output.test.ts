// CLI output: colour only when wanted, tables aligned on visible width, findings split into file, field and message.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { colorWanted, createStyle, renderTable } from '../../../src/cli/output.ts';
import { parseFinding } from '../../../src/cli/validate-checks.ts';
import { overrideBody } from '../../../src/cli/commands/override.ts';

const tty = { isTTY: true } as NodeJS.WriteStream;
const pipe = { isTTY: false } as NodeJS.WriteStream;

describe('cli output', () => {
  it('colours on a TTY only, and honours NO_COLOR and FORCE_COLOR', () => {
    assert.equal(colorWanted(tty, {}), true);
    assert.equal(colorWanted(pipe, {}), false);
    assert.equal(colorWanted(tty, { NO_COLOR: '1' }), false);
    assert.equal(colorWanted(pipe, { FORCE_COLOR: '1' }), true);
    assert.equal(colorWanted(tty, { FORCE_COLOR: '0' }), false);
    assert.equal(createStyle(false).red('x'), 'x');
    assert.equal(createStyle(true).red('x'), '\x1b[31mx\x1b[39m');
  });

  it('aligns columns by what is visible, numbers to the right, without trailing spaces', () => {
    const style = createStyle(true);
    const table = renderTable({
      style: createStyle(false),
      columns: [{ header: 'AGENT' }, { header: 'SPEND', align: 'right' }],
      rows: [
        [style.bold('a'), '$4.20'],
        ['brightline', '$12,345'],
      ],
    });
    const plain = table.replace(/\x1b\[[0-9;]*m/g, '');
    assert.equal(plain, ['AGENT         SPEND', 'a             $4.20', 'brightline  $12,345'].join('\n'));
  });

  it('splits findings into file, field and message', () => {
    assert.deepEqual(parseFinding('error', '/gov/a/budget.json: limits[1].window: must be a positive duration'), {
      severity: 'error',
      file: '/gov/a/budget.json',
      field: 'limits[1].window',
      message: 'must be a positive duration',
      text: '/gov/a/budget.json: limits[1].window: must be a positive duration',
    });
    assert.deepEqual(parseFinding('error', 'LISTEN_ADDR: expected host:port').field, 'LISTEN_ADDR');
    assert.equal(parseFinding('error', 'LISTEN_ADDR: expected host:port').file, null);
    assert.equal(parseFinding('error', '/ctx/b/budget-override.json: not valid JSON (at line 1)').field, null);
  });

  it('builds the override body from flags over --policy, with a default set_by', () => {
    assert.deepEqual(overrideBody({ limitUsd: 5, window: '1h', reason: 'why', policy: { window: '24h', alerts: [0.8] } }, 'me@host'), {
      window: '1h',
      alerts: [0.8],
      limit_usd: 5,
      reason: 'why',
      set_by: 'me@host',
    });
    assert.equal(overrideBody({ setBy: 'ops', reason: 'x' }, 'me@host').set_by, 'ops');
  });
});
