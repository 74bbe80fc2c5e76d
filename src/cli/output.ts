// Terminal output for the CLI: colour only on a TTY (NO_COLOR / FORCE_COLOR respected), aligned tables, JSON.
import type { Tone } from '../dashboard/static/format.js';

export interface Style {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  orange(text: string): string;
  cyan(text: string): string;
  /** Colour by a used fraction's tone (format.js fractionTone). */
  tone(tone: Tone | null | undefined, text: string): string;
}

/** Colour when writing to a terminal, unless NO_COLOR is set; FORCE_COLOR=1 forces it (FORCE_COLOR=0 forbids it). */
export function colorWanted(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function createStyle(enabled: boolean): Style {
  const wrap =
    (open: string, close = '\x1b[39m') =>
    (text: string) =>
      enabled && text !== '' ? `\x1b[${open}m${text}${close}` : text;
  const bold = wrap('1', '\x1b[22m');
  const style: Style = {
    enabled,
    bold,
    dim: wrap('2', '\x1b[22m'),
    red: wrap('31'),
    green: wrap('32'),
    yellow: wrap('33'),
    orange: wrap('38;5;208'),
    cyan: wrap('36'),
    tone: (tone, text) => {
      if (tone === 'over') return style.red(text);
      if (tone === 'high') return style.orange(text);
      if (tone === 'warn') return style.yellow(text);
      if (tone === 'ok') return style.green(text);
      return text;
    },
  };
  return style;
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** Printed width of a string (ANSI colour codes do not count). */
export function visibleWidth(text: string): number {
  return [...text.replace(ANSI, '')].length;
}

export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
}

/** Columns padded to their widest cell, two spaces apart; numbers right-aligned; no trailing spaces. */
export function renderTable(input: { columns: readonly Column[]; rows: readonly (readonly string[])[]; style: Style; indent?: string }): string {
  const { columns, rows, style } = input;
  const widths = columns.map((column, index) => Math.max(visibleWidth(column.header), ...rows.map((row) => visibleWidth(row[index] ?? ''))));
  const line = (cells: readonly string[], header: boolean) => {
    const padded = columns.map((column, index) => {
      const cell = cells[index] ?? '';
      const gap = ' '.repeat(widths[index] - visibleWidth(cell));
      const text = header ? style.dim(cell) : cell;
      return column.align === 'right' ? gap + text : text + gap;
    });
    return `${input.indent ?? ''}${padded.join('  ')}`.replace(/\s+$/, '');
  };
  return [
    line(
      columns.map((column) => column.header),
      true,
    ),
    ...rows.map((row) => line(row, false)),
  ].join('\n');
}

/** Pretty JSON with a trailing newline, for --json. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
