// Polls a condition with a bounded number of short sleeps (no timing assertion: only "eventually, or fail").
import assert from 'node:assert/strict';

export async function waitFor(check: () => boolean, label = 'condition'): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    // at least 15 s: a loaded CI machine is slow, a hang still fails
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${label}`);
}
