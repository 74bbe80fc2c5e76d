// The OpenAI Responses API (/v1/responses) as a Protocol: the OpenAI envelope, `response.*` events, max_output_tokens.
import { readCallParams } from '../call-params.ts';
import type { Protocol } from '../protocol.ts';
import { responsesErrorBody, responsesStreamErrorEvent } from './errors.ts';
import { prepareResponsesRequest } from './request.ts';
import { ResponsesStreamUsage } from './stream-usage.ts';
import { usageFromResponsesJson } from './usage.ts';

const CALL_FIELDS = { caps: ['max_output_tokens'] };

export const responses: Protocol = {
  name: 'responses',
  path: '/v1/responses',
  errorFamily: 'openai',
  terminator: 'response.completed',
  readCallParams: (body) => readCallParams(body, CALL_FIELDS),
  prepare: prepareResponsesRequest,
  setOutputCap({ body, cap }) {
    body.max_output_tokens = cap;
    return 'max_output_tokens';
  },
  usageFromJson: usageFromResponsesJson,
  streamUsageReader: () => new ResponsesStreamUsage(),
  generatedPart: (answer) => answer.output,
  pendingAnswer: (answer) => answer.status === 'queued' || answer.status === 'in_progress',
  /** `input` is a string (one message) or a list of items; `instructions` is one more. */
  promptMessages: (body) =>
    (Array.isArray(body.input) ? body.input.length : body.input === undefined ? 0 : 1) + (typeof body.instructions === 'string' ? 1 : 0),
  errorBody: responsesErrorBody,
  streamErrorEvent: responsesStreamErrorEvent,
};
