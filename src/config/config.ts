// The validated, frozen configuration: read once at start (see load.ts) and passed down; nothing reads env later.
import type { Provider } from '../upstream/provider.ts';
import type { ResponsesAdapterSettings } from '../protocol/chat-responses/settings.ts';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export type LedgerConfig =
  | { readonly kind: 'memory' }
  | {
      readonly kind: 'redis';
      readonly url: string;
      /** Namespace of every key (one hash tag): fleets, or test runs, sharing a Redis keep apart by prefix. */
      readonly keyPrefix: string;
      /**
       * A Redis Cluster (REDIS_URL=redis+cluster://h1:p1,h2:p2; `url` is then redis://h1:p1,h2:p2): the ledger's keys are
       * grouped by budget group, each group its own hash tag, so a fleet spreads over every shard.
       */
      readonly cluster: boolean;
    };

/** Bounds on what requests may hold while they arrive and run: bytes in flight, body time, connections. */
export interface IntakeLimits {
  /** Request bytes in flight (bodies read, answers held whole, stream copies kept for history), all agents together. */
  readonly maxBytesInFlight: number;
  /** The most of maxBytesInFlight one agent may hold. */
  readonly maxAgentBytesInFlight: number;
  /** The longest a request body may take to arrive once its headers are in (then 408 and the connection closed). */
  readonly bodyTimeoutMs: number;
  /** Most open connections on the API port; a connection past it gets 503 `too_many_connections` and is closed. */
  readonly maxConnections: number;
}

export interface Config {
  readonly listen: ListenAddress;
  readonly ui: ListenAddress;
  readonly contextRoot: string;
  readonly authDir: string;
  readonly governanceDir: string | null;
  readonly historyDir: string;
  readonly historyMaxBytes: number;
  /** Most session history files open at once (the least recently written are closed, and reopened when needed). */
  readonly historyMaxOpenFiles: number;
  /** Where the embedded ledger keeps its journal. */
  readonly dataDir: string;
  readonly pod: string;
  /** CLLAMA_UI_TOKEN: admin bearer for the UI port and GET /history/{agent}. Null = not configured. */
  readonly uiToken: string | null;
  /** TOLLGATE_UI_OPEN=1: without a UI token, answer UI callers from any address (default: loopback only). */
  readonly uiOpen: boolean;
  /** TOLLGATE_UI_HOSTS: Host names the UI accepts besides IP literals, localhost and UI_ADDR's host (lower case). */
  readonly uiHosts: readonly string[];
  readonly budgetFailMode: 'open' | 'closed';
  readonly ledger: LedgerConfig;
  readonly maxBodyBytes: number;
  /** Deepest nesting of objects and arrays a request body may have (TOLLGATE_MAX_JSON_DEPTH); deeper: 400 body_too_deep. */
  readonly maxJsonDepth: number;
  /** Largest upstream response read whole (larger: 502), and the most of a stream kept for its history entry. */
  readonly maxResponseBytes: number;
  readonly timeouts: {
    /** On SIGTERM/SIGINT: how long in-flight calls may finish before their connections are closed. */
    readonly shutdownGraceMs: number;
    /** The longest a request (headers and body) may take to arrive; then 408 and the connection is closed. */
    readonly requestMs: number;
    readonly connectMs: number;
    /** Whole non-streamed attempt: headers and body. */
    readonly dispatchMs: number;
    /** Streamed: wait for response headers and the first body byte. */
    readonly firstByteMs: number;
    /** Streamed: longest gap between body chunks. */
    readonly idleMs: number;
    /** Longest an idle upstream connection is kept for reuse, whatever keep-alive the upstream advertises. */
    readonly upstreamIdleMs: number;
  };
  /** A model-policy candidate failing this often within the window is skipped for the cool-off, then probed once. */
  readonly circuits: { readonly failures: number; readonly windowMs: number; readonly coolOffMs: number };
  /** What one agent, or all of them together, may hold of this process while requests arrive (docs/config.md). */
  readonly intake: IntakeLimits;
  /** Most connections per upstream origin (TOLLGATE_UPSTREAM_CONNECTIONS); null: no bound of tollgate's own. */
  readonly upstreamConnections: number | null;
  /** Output-token cap assumed for budget estimates when a request sets no max_tokens. */
  readonly defaultMaxOutputTokens: number;
  /** Operator price file (JSON) that overrides or adds model prices. */
  readonly pricesFile: string | null;
  readonly alertWebhookUrl: string | null;
  /** TOLLGATE_KEY_RECHECK_MS: first wait before a dead provider key is re-checked (doubles per failed check, at most 1 h). */
  readonly keyRecheckMs: number;
  readonly providers: readonly Provider[];
  /** cllama's Responses adapter for responses-only models asked for on chat completions (CLLAMA_RESPONSES_*). */
  readonly responsesAdapter: ResponsesAdapterSettings;
  /** Human-readable notes printed at start (e.g. "using ./.tollgate/context because /claw/context does not exist"). */
  readonly notices: readonly string[];
}
