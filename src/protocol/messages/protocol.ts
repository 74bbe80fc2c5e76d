// Anthropic messages (/v1/messages) as a Protocol: Anthropic's envelope, `message_stop`, usage on message_start/delta.
import { readCallParams } from '../call-params.ts';
import type { Protocol } from '../protocol.ts';
import { anthropicErrorBody } from './errors.ts';
import { prepareMessagesRequest } from './request.ts';
import { AnthropicStreamUsage } from './stream-usage.ts';
import { usageFromAnthropicJson } from './usage.ts';

const CALL_FIELDS = { caps: ['max_tokens'] };

export const messages: Protocol = {
  name: 'messages',
  path: '/v1/messages',
  errorFamily: 'anthropic',
  terminator: 'message_stop',
  readCallParams: (body) => readCallParams(body, CALL_FIELDS),
  prepare: prepareMessagesRequest,
  setOutputCap({ body, cap }) {
    body.max_tokens = cap;
    return 'max_tokens';
  },
  usageFromJson: usageFromAnthropicJson,
  streamUsageReader: () => new AnthropicStreamUsage(),
  generatedPart: (answer) => answer.content,
  pendingAnswer: () => false,
  /** A top-level `system` is framed as one more message. */
  promptMessages: (body) => (Array.isArray(body.messages) ? body.messages.length : 0) + (body.system !== undefined && body.system !== null ? 1 : 0),
  errorBody: anthropicErrorBody,
  streamErrorEvent: ({ message }) => `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'api_error', message } })}\n\n`,
};
