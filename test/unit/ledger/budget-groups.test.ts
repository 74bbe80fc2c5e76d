// Budget groups from shared-budget membership: connected components, their names, and the group of every kind of scope.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetGroups, entityOf } from '../../../src/ledger/budget-groups.ts';

describe('budget groups', () => {
  it('joins agents through the shared budgets they draw from, transitively; an agent alone is a group of one', () => {
    const groups = BudgetGroups.of([
      { agentId: 'a', shared: ['team'] },
      { agentId: 'b', shared: ['team', 'ops'] },
      { agentId: 'c', shared: ['ops'] },
      { agentId: 'd', shared: [] },
      { agentId: 'e', shared: ['zeta'] },
    ]);
    assert.equal(groups.count, 3);
    for (const entity of ['agent:a', 'agent:b', 'agent:c', 'shared:team', 'shared:ops']) assert.equal(groups.groupOfEntity(entity), 'shared:ops', entity);
    assert.equal(groups.groupOfEntity('agent:d'), 'agent:d');
    assert.equal(groups.groupOfEntity('agent:e'), 'shared:zeta');
    assert.equal(groups.groupOfEntity('agent:unknown'), 'agent:unknown', 'a budget no policy names is its own group');
  });

  it('names a group after its first shared budget, so an agent joining one moves alone', () => {
    const before = BudgetGroups.of([
      { agentId: 'a', shared: ['team'] },
      { agentId: 'z', shared: [] },
    ]);
    const after = BudgetGroups.of([
      { agentId: 'a', shared: ['team'] },
      { agentId: 'z', shared: ['team'] },
    ]);
    assert.equal(before.groupOfEntity('agent:a'), after.groupOfEntity('agent:a'));
    assert.equal(before.groupOfEntity('shared:team'), after.groupOfEntity('shared:team'));
    assert.notEqual(before.groupOfEntity('agent:z'), after.groupOfEntity('agent:z'));
  });

  it('puts model-scoped and session scopes with their agent or shared budget', () => {
    assert.equal(entityOf('agent:a|model:gpt-4*'), 'agent:a');
    assert.equal(entityOf('shared:team|model:claude-*'), 'shared:team');
    assert.equal(entityOf('session:1800000:a:run-7'), 'agent:a');
    assert.equal(entityOf('session:1800000:a:run:with:colons|model:x'), 'agent:a');
    const groups = BudgetGroups.of([{ agentId: 'a', shared: ['team'] }]);
    assert.equal(groups.groupOf('session:60000:a:s1'), 'shared:team');
    assert.equal(groups.groupOf('agent:a|model:o3'), 'shared:team');
  });
});
