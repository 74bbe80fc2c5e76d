// The protocol registry: one line per wire format; a route's protocol is chosen once, by its path.
import { chat } from './chat/protocol.ts';
import { messages } from './messages/protocol.ts';
import type { Protocol } from './protocol.ts';
import { responses } from './responses/protocol.ts';

export const PROTOCOLS: readonly Protocol[] = [chat, messages, responses];

const BY_PATH = new Map(PROTOCOLS.map((protocol) => [protocol.path, protocol]));

/** The protocol of a model route's path (without query), or undefined when the path is not one. */
export function protocolOf(path: string): Protocol | undefined {
  return BY_PATH.get(path);
}

/** The protocol whose envelope answers a path that is no model route: Anthropic's under /v1/messages, else OpenAI's. */
export function protocolNear(path: string): Protocol {
  return path.startsWith('/v1/messages') ? messages : path.startsWith('/v1/responses') ? responses : chat;
}

export { chat, messages, responses };
