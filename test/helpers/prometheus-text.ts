// Test helper: a strict parser of the Prometheus text exposition format (0.0.4) that throws on anything malformed.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** As written. */
  readonly value: string;
}

export interface ParsedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/i;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/**
 * Parses the whole text: it must end with a newline; every family has at most one HELP and one TYPE line, both before
 * its samples; a family's lines are contiguous; label values use only the escapes `\\`, `\"`, `\n`; values are floats
 * (`Nan`, `+Inf`, `-Inf` included); no series (name and label set) appears twice.
 */
export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the text must end with a newline');
  const families = new Map<string, ParsedFamily & { help: string; type: string }>();
  const seen = new Set<string>();
  let current: string | null = null;
  const open = (name: string, lineNo: number): ParsedFamily & { help: string; type: string } => {
    let family = families.get(name);
    if (family && current !== name) throw new Error(`line ${lineNo}: family ${name} is split`);
    if (!family) {
      family = { name, help: '', type: 'untyped', samples: [] };
      families.set(name, family);
    }
    current = name;
    return family;
  };
  const helpSeen = new Set<string>();
  const typeSeen = new Set<string>();
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, index) => {
      const lineNo = index + 1;
      if (line === '') return;
      if (line.startsWith('#')) {
        const match = /^# (HELP|TYPE) ([^ ]+)(?: (.*))?$/.exec(line);
        if (!match) return; // a comment
        const [, kind, name, rest = ''] = match;
        if (!METRIC_NAME.test(name) || name.match(METRIC_NAME)?.[0] !== name) throw new Error(`line ${lineNo}: bad metric name ${name}`);
        const family = open(name, lineNo);
        if (kind === 'HELP') {
          if (helpSeen.has(name)) throw new Error(`line ${lineNo}: second HELP for ${name}`);
          if (!/^(?:[^\\]|\\[\\n])*$/.test(rest)) throw new Error(`line ${lineNo}: bad escape in HELP`);
          helpSeen.add(name);
          family.help = rest.replace(/\\(\\|n)/g, (_, char: string) => (char === 'n' ? '\n' : '\\'));
        } else {
          if (typeSeen.has(name)) throw new Error(`line ${lineNo}: second TYPE for ${name}`);
          if (family.samples.length > 0) throw new Error(`line ${lineNo}: TYPE after samples of ${name}`);
          if (!TYPES.has(rest)) throw new Error(`line ${lineNo}: unknown type ${rest}`);
          typeSeen.add(name);
          family.type = rest;
        }
        return;
      }
      const sample = parseSample(line, lineNo);
      const familyName = familyOf(sample.name, families, current);
      const family = open(familyName, lineNo);
      const key = `${sample.name}{${Object.entries(sample.labels)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
        .join(',')}}`;
      if (seen.has(key)) throw new Error(`line ${lineNo}: duplicate series ${key}`);
      seen.add(key);
      family.samples.push(sample);
    });
  return families;
}

function familyOf(sampleName: string, families: Map<string, ParsedFamily>, current: string | null): string {
  if (current !== null && families.get(current)?.type === 'histogram') {
    for (const suffix of HISTOGRAM_SUFFIXES) if (sampleName === `${current}${suffix}`) return current;
  }
  return sampleName;
}

function parseSample(line: string, lineNo: number): Sample {
  const name = line.match(METRIC_NAME)?.[0];
  if (!name) throw new Error(`line ${lineNo}: no metric name: ${line}`);
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    at++;
    while (line[at] !== '}') {
      const labelName = line.slice(at).match(LABEL_NAME)?.[0];
      if (!labelName) throw new Error(`line ${lineNo}: bad label name at ${at}: ${line}`);
      if (labelName in labels) throw new Error(`line ${lineNo}: label ${labelName} twice`);
      at += labelName.length;
      if (line.slice(at, at + 2) !== '="') throw new Error(`line ${lineNo}: expected =" at ${at}`);
      at += 2;
      let value = '';
      for (;;) {
        const char = line[at];
        if (char === undefined) throw new Error(`line ${lineNo}: unterminated label value`);
        at++;
        if (char === '"') break;
        if (char !== '\\') {
          value += char;
          continue;
        }
        const escaped = line[at++];
        if (escaped === '\\') value += '\\';
        else if (escaped === '"') value += '"';
        else if (escaped === 'n') value += '\n';
        else throw new Error(`line ${lineNo}: bad escape \\${escaped}`);
      }
      labels[labelName] = value;
      if (line[at] === ',') at++;
      else if (line[at] !== '}') throw new Error(`line ${lineNo}: expected , or } at ${at}`);
    }
    at++;
  }
  if (line[at] !== ' ') throw new Error(`line ${lineNo}: expected a space before the value: ${line}`);
  const value = line.slice(at + 1);
  if (!VALUE.test(value)) throw new Error(`line ${lineNo}: bad value ${value}`);
  return { name, labels, value };
}
