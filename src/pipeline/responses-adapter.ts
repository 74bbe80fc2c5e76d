// cllama's Responses adapter on the request path: a chat call to a responses-only model goes to /responses and back.
import type { ResponsesAdapterSettings } from '../protocol/chat-responses/settings.ts';
import { responsesToChatCompletion } from '../protocol/chat-responses/answer.ts';
import { responsesAdapterRequired } from '../protocol/chat-responses/eligible.ts';
import { chatToResponsesRequest } from '../protocol/chat-responses/request.ts';
import { chatCompletionToSse } from '../protocol/chat-responses/sse.ts';
import { chat, responses } from '../protocol/index.ts';
import type { Protocol } from '../protocol/protocol.ts';
import type { AnswerTranslator, TranslatedAnswer } from '../stream/answer-translation.ts';
import { generatedBytes } from '../stream/generated-bytes.ts';
import type { Route } from '../upstream/provider.ts';

/** How one chat call goes through the adapter: where, what is sent, what it changed, and how its reply comes back. */
export interface AdapterPlan {
  readonly url: string;
  /** The Responses body sent upstream (history keeps the chat-shaped body, as cllama does). */
  readonly bodyText: string;
  /** `responses_api_adapter`, then the mutations (cllama's names), recorded as interventions. */
  readonly interventions: readonly string[];
  readonly translate: AnswerTranslator;
}

/** Whether the call takes the adapter: a chat completions call to a responses-only model (never /v1/messages or /v1/responses). */
export function takesAdapter(input: { readonly settings: ResponsesAdapterSettings; readonly protocol: Protocol; readonly route: Route }): boolean {
  return input.protocol === chat && responsesAdapterRequired(input.settings, { provider: input.route.provider.name, model: input.route.upstreamModel });
}

/**
 * Checks a chat body against what the Responses API cannot honour, before anything is reserved: throws ProxyError
 * invalid_parameter (400) for `n` other than 1, a penalty, `stop`, `seed`, `store: true`, ... (no upstream call).
 */
export function checkAdaptable(body: Record<string, unknown>, settings: ResponsesAdapterSettings): void {
  chatToResponsesRequest(body, settings);
}

/**
 * The plan for a prepared chat body (model replaced, output cap set): the Responses body for `<base>/responses`, always
 * whole upstream (a streaming agent gets a synthetic stream once the reply is in).
 */
export function adapterPlan(input: {
  readonly settings: ResponsesAdapterSettings;
  readonly route: Route;
  readonly query: string;
  readonly chatBody: Record<string, unknown>;
  readonly stream: boolean;
  readonly includeUsage: boolean;
}): AdapterPlan {
  const adapted = chatToResponsesRequest(input.chatBody, input.settings);
  return {
    url: `${input.route.provider.baseUrl}/responses${input.query ? `?${input.query}` : ''}`,
    bodyText: JSON.stringify(adapted.body),
    interventions: ['responses_api_adapter', ...adapted.interventions],
    translate: (answer) => translateReply({ ...answer, stream: input.stream, includeUsage: input.includeUsage }),
  };
}

/**
 * A Responses reply as the chat agent gets it: a completion (or, to a streaming agent on a 2xx, its synthetic chunks);
 * an error envelope, or a body that is no JSON (not streamed), passed on as it is; a reply that is no success, failed.
 * Usage is read once, from what the agent gets (cllama: "metered once").
 */
function translateReply(input: { status: number; bodyText: string; json: unknown; stream: boolean; includeUsage: boolean }): TranslatedAnswer {
  const streamed = input.stream && input.status >= 200 && input.status < 300;
  if (input.json === undefined) {
    if (streamed) return { kind: 'failed', reason: 'the reply is not JSON', usage: null };
    return { kind: 'answer', text: input.bodyText, contentType: 'application/json', sse: false, usage: null, generatedBytes: 0 };
  }
  const translated = responsesToChatCompletion(input.json);
  if (translated.kind === 'failed') return { kind: 'failed', reason: translated.reason, usage: responses.usageFromJson(input.json) };
  if (translated.kind === 'pass' && !streamed)
    return {
      kind: 'answer',
      text: input.bodyText,
      contentType: 'application/json',
      sse: false,
      json: input.json,
      usage: chat.usageFromJson(input.json),
      generatedBytes: 0,
    };
  const completion = translated.kind === 'completion' ? translated.completion : {};
  const usage = chat.usageFromJson(completion);
  if (!streamed)
    return { kind: 'answer', text: JSON.stringify(completion), contentType: 'application/json', sse: false, json: completion, usage, generatedBytes: 0 };
  const text = chatCompletionToSse(completion, { includeUsage: input.includeUsage, nowSeconds: Math.floor(Date.now() / 1000) });
  return { kind: 'answer', text, contentType: 'text/event-stream', sse: true, usage, generatedBytes: generatedBytes(text) };
}
