// Untrusted strings on the dashboard: direction and invisible controls written out, long strings cut without splitting a character.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clip, visibleText } from '../../../src/dashboard/static/text.js';

describe('dashboard text', () => {
  it('writes out bidi overrides, isolates, marks, zero-width and control characters', () => {
    assert.equal(visibleText('gpt\u202E4o'), 'gpt‹U+202E›4o');
    assert.equal(visibleText('\u2066a\u2069\u200F\u200B\u0000\u001b[31m\u2028'), '‹U+2066›a‹U+2069›‹U+200F›‹U+200B›‹U+0000›‹U+001B›[31m‹U+2028›');
    assert.equal(visibleText('<img src=x onerror="x">'), '<img src=x onerror="x">', 'markup is left as it is: it only ever goes in as text');
    assert.equal(visibleText('héllo 模型 🙂'), 'héllo 模型 🙂');
    assert.equal(visibleText(12), '12');
  });

  it('cuts at a character count with an ellipsis, never inside a surrogate pair', () => {
    assert.equal(clip('abcdef', 10), 'abcdef');
    assert.equal(clip('abcdef', 4), 'abc…');
    assert.equal(clip('🙂🙂🙂🙂', 3), '🙂🙂…');
  });
});
