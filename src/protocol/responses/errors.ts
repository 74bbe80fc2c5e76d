// Errors on /v1/responses: the OpenAI envelope for answers; a stream's error event as the Responses API writes it.
import { openAIErrorBody } from '../chat/errors.ts';

export const responsesErrorBody = openAIErrorBody;

/**
 * The `error` event of a Responses stream (`{"type":"error","code","message","param"}`), with the OpenAI envelope's
 * `error` object beside it: the openai SDK raises an APIError for an event whose data has `error`, so an agent
 * iterating the stream learns that it failed instead of waiting for a response.completed that never comes.
 */
export function responsesStreamErrorEvent(input: { readonly message: string; readonly code: string }): string {
  const { message, code } = input;
  const data = { type: 'error', code, message, param: null, error: { message, type: 'server_error', code } };
  return `event: error\ndata: ${JSON.stringify(data)}\n\n`;
}
