// OpenAI chat completions (/v1/chat/completions) as a Protocol: the OpenAI envelope, `data: [DONE]`, the usage chunk.
import { readCallParams } from '../call-params.ts';
import type { Protocol } from '../protocol.ts';
import { openAIErrorBody } from './errors.ts';
import { prepareChatRequest } from './request.ts';
import { OpenAIStreamUsage } from './stream-usage.ts';
import { usageFromOpenAIJson } from './usage.ts';

const CALL_FIELDS = { caps: ['max_completion_tokens', 'max_tokens'], choices: 'n' };

export const chat: Protocol = {
  name: 'chat',
  path: '/v1/chat/completions',
  errorFamily: 'openai',
  terminator: 'data: [DONE]',
  readCallParams: (body) => readCallParams(body, CALL_FIELDS),
  prepare: prepareChatRequest,
  /** OpenAI itself reads `max_completion_tokens` (its reasoning models refuse `max_tokens`); every other OpenAI-format provider `max_tokens`. */
  setOutputCap({ body, provider, cap }) {
    // named stores, not body[field]: a keyed store of a new field into the agent's body took V8's slow path every call
    if (provider === 'openai') {
      body.max_completion_tokens = cap;
      return 'max_completion_tokens';
    }
    body.max_tokens = cap;
    return 'max_tokens';
  },
  usageFromJson: usageFromOpenAIJson,
  streamUsageReader: () => new OpenAIStreamUsage(),
  generatedPart: (answer) => answer.choices,
  pendingAnswer: () => false,
  promptMessages: (body) => (Array.isArray(body.messages) ? body.messages.length : 0),
  errorBody: openAIErrorBody,
  streamErrorEvent: ({ message, code }) => `event: error\ndata: ${JSON.stringify({ error: { message, type: 'server_error', code } })}\n\n`,
};
