// Test helper: one small chat call through a running proxy as an agent (bearer `<agent>:s`); its HTTP status.
import type { RunningProxy } from './process.ts';

/** Sends one small chat call as `agent` (message `from <agent>`); the status (0 when the connection failed). */
export async function ask(proxy: RunningProxy, agent: string): Promise<number> {
  try {
    const response = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent}:s`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: `from ${agent}` }] }),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}
