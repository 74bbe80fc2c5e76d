// Model-name normal form: variants of one name collapse to it; invisible and control characters are refused (property over random variants).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyError } from '../../../src/errors.ts';
import { normalizeModelName } from '../../../src/upstream/model-name.ts';
import { seededRandom } from '../../helpers/random.ts';

const SPACES = [' ', '\t', '\u00a0', '\u3000', '\n'];
const INVISIBLES = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u202e', '\u2066', '\ufe0f', '\u0007', '\u001b', '\u007f', '\u180e'];

describe('normalizeModelName', () => {
  it('trims and collapses slashes with the whitespace around them', () => {
    assert.equal(normalizeModelName('openai/ gpt-4o'), 'openai/gpt-4o');
    assert.equal(normalizeModelName('openai//gpt-4o'), 'openai/gpt-4o');
    assert.equal(normalizeModelName('  openai /\t/ gpt-4o \n'), 'openai/gpt-4o');
    assert.equal(normalizeModelName('openrouter/meta-llama//llama-3'), 'openrouter/meta-llama/llama-3');
    assert.equal(normalizeModelName('claude-sonnet-4-5'), 'claude-sonnet-4-5');
  });

  it('refuses a zero-width or control character with where it is', () => {
    assert.throws(
      () => normalizeModelName('openai/gpt\u200b-4o'),
      (error: unknown) => error instanceof ProxyError && error.code === 'invalid_model_name' && /U\+200B at position 10/.test(error.message),
    );
  });

  it('random variants: whitespace and slashes around the slash give the name; any invisible character is refused', () => {
    const random = seededRandom(4242);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
    const run = (count: number, piece: () => string) => Array.from({ length: count }, piece).join('');
    for (let round = 0; round < 500; round++) {
      const [provider, model] = pick([
        ['openai', 'gpt-4o'],
        ['anthropic', 'claude-sonnet-4-5'],
        ['openrouter', 'meta-llama/llama-3.1-8b'],
      ]);
      const gap = () => run(Math.floor(random() * 3), () => pick(SPACES));
      const variant = `${gap()}${provider}${gap()}/${run(Math.floor(random() * 3), () => pick(['/', ...SPACES]))}${model}${gap()}`;
      assert.equal(normalizeModelName(variant), `${provider}/${model}`, JSON.stringify(variant));
      // anywhere: the canonical name (a BOM or newline beside the slash is whitespace, trimmed) or a refusal, never a third name
      const at = Math.floor(random() * (variant.length + 1));
      const hidden = `${variant.slice(0, at)}${pick(INVISIBLES)}${variant.slice(at)}`;
      let result: string | null = null;
      try {
        result = normalizeModelName(hidden);
      } catch (error) {
        assert.ok(error instanceof ProxyError && error.code === 'invalid_model_name', JSON.stringify(hidden));
      }
      if (result !== null) assert.equal(result, `${provider}/${model}`, JSON.stringify(hidden));
      // inside the model's own name: always refused
      const inside = 1 + Math.floor(random() * (model.length - 1));
      const planted = `${provider}/${model.slice(0, inside)}${pick(INVISIBLES)}${model.slice(inside)}`;
      assert.throws(
        () => normalizeModelName(planted),
        (error: unknown) => error instanceof ProxyError && error.code === 'invalid_model_name',
        JSON.stringify(planted),
      );
    }
  });
});
