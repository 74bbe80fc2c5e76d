// An answer rewritten before it is relayed (cllama's Responses adapter): read whole, translated, then relayed and metered.
import type { Usage } from '../protocol/usage.ts';

/** What a translator makes of an upstream answer read whole. */
export type TranslatedAnswer =
  | {
      readonly kind: 'answer';
      /** The text the client gets (JSON, or a whole SSE stream). */
      readonly text: string;
      readonly contentType: string;
      readonly sse: boolean;
      /** The answer as JSON (a completion), when it is. */
      readonly json?: unknown;
      readonly usage: Usage | null;
      /** UTF-8 bytes of its generated text: what a missing output count is estimated from. */
      readonly generatedBytes: number;
    }
  /** No success, never relayed as one: the call fails with `responses_adapter_failed`, charged what it reported. */
  | { readonly kind: 'failed'; readonly reason: string; readonly usage: Usage | null };

export type AnswerTranslator = (answer: { readonly status: number; readonly bodyText: string; readonly json: unknown }) => TranslatedAnswer;
