// The live feed's connection: an EventSource on the session cookie, resumed after the last id, reopened when it stalls.
import { eventsUrl, openSession } from './api.js';

/** After EventSource gives up (or never got through): the page polls, and the stream is tried again this much later. */
const RETRY_MS = 30_000;
/** The feed sends a `ping` event every 15 s: this long without a word means the stream is stuck (a proxy holding it). */
export const STALL_MS = 40_000;

/**
 * new LiveFeed({ types, lastId: () => number, onEvent: ({ id, event }) => void, onMode: (mode) => void })
 * Modes: connecting · live · polling (the page polls the API meanwhile).
 */
export class LiveFeed {
  #options;
  #source = null;
  #mode = 'connecting';
  #generation = 0;
  #lastHeard = 0;
  #retryTimer = null;

  constructor(options) {
    this.#options = options;
  }

  start() {
    void this.#open();
  }

  /** Drops the stream and opens a new one (a new token was given, or the stream went quiet). */
  restart() {
    this.#source?.close();
    this.#source = null;
    void this.#open();
  }

  /** Called every second: a stream that says it is open but has been silent past STALL_MS is reopened. */
  check(now = Date.now()) {
    if (this.#source && this.#mode === 'live' && now - this.#lastHeard > STALL_MS) this.restart();
  }

  async #open() {
    const generation = ++this.#generation;
    clearTimeout(this.#retryTimer);
    if (typeof EventSource === 'undefined') {
      this.#setMode('polling');
      return;
    }
    this.#setMode('connecting');
    await openSession();
    if (generation !== this.#generation) return; // restarted meanwhile
    const source = new EventSource(eventsUrl(this.#options.types, { lastId: this.#options.lastId() }));
    this.#source = source;
    let opened = false;
    const heard = () => {
      this.#lastHeard = Date.now();
    };
    source.onopen = () => {
      opened = true;
      heard();
      this.#setMode('live');
    };
    source.addEventListener('ping', heard);
    source.onmessage = (message) => {
      heard();
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return; // a malformed frame is skipped
      }
      this.#options.onEvent({ id: Number(message.lastEventId) || null, event });
    };
    source.onerror = () => {
      if (this.#source !== source) return;
      // EventSource retries by itself; when it gives up (CLOSED) or never got through, poll instead and try again later.
      if (source.readyState === EventSource.CLOSED || !opened) {
        source.close();
        this.#source = null;
        this.#setMode('polling');
        this.#retryTimer = setTimeout(() => {
          if (!this.#source) void this.#open();
        }, RETRY_MS);
      } else {
        this.#setMode('connecting');
      }
    };
  }

  #setMode(mode) {
    this.#mode = mode;
    this.#options.onMode(mode);
  }
}
