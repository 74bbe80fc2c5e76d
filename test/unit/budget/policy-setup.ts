// Resolves a policy from inline sources (metadata, context override, governance, shared files), for the policy tests.
import assert from 'node:assert/strict';
import { parsePolicySource, resolvePolicy, type EffectivePolicy, type ParsedSource, type PolicyResult } from '../../../src/budget/policy/policy.ts';

export const META = '/ctx/a/metadata.json';
export const CTX = '/ctx/a/budget-override.json';
export const GOV = '/gov/a/budget.json';

function sources(input: { metadata?: unknown; override?: unknown; governance?: unknown }): ParsedSource[] {
  return [
    parsePolicySource({ raw: input.metadata, source: { kind: 'metadata', file: META }, prefix: 'budget.' }),
    parsePolicySource({ raw: input.override, source: { kind: 'context_override', file: CTX } }),
    parsePolicySource({ raw: input.governance, source: { kind: 'governance', file: GOV } }),
  ];
}

/** The policy of agent `a` from these sources (each optional), with `shared` as the shared budget files by name. */
export function resolve(input: { metadata?: unknown; override?: unknown; governance?: unknown; shared?: Record<string, unknown>; now?: number }): PolicyResult {
  const shared = input.shared ?? {};
  return resolvePolicy({
    agentId: 'a',
    sources: sources(input),
    shared: (name) =>
      name in shared ? { parsed: parsePolicySource({ raw: shared[name], source: { kind: 'shared', file: `/gov/_shared/${name}.json` } }) } : null,
    sharedDir: '/gov/_shared',
    now: input.now ?? Date.parse('2026-01-01T00:00:00Z'),
  });
}

/** The resolved policy, asserted usable. */
export function policy(input: Parameters<typeof resolve>[0]): EffectivePolicy {
  const result = resolve(input);
  assert.equal(result.kind, 'policy', result.kind === 'unavailable' ? result.problems.join('\n') : '');
  return result as EffectivePolicy;
}

/** The problems of a policy asserted unavailable. */
export function problems(input: Parameters<typeof resolve>[0]): readonly string[] {
  const result = resolve(input);
  assert.equal(result.kind, 'unavailable', 'expected the policy to be unavailable');
  return (result as Extract<PolicyResult, { kind: 'unavailable' }>).problems;
}
