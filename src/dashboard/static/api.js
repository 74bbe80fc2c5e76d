// Talking to the admin API: the UI token (from #token=, or asked once, kept in sessionStorage), JSON reads, the live feed URL.
import { safeDecode } from './route.js';

const TOKEN_KEY = 'tollgate.uiToken';
const ASKED_KEY = 'tollgate.uiTokenAsked';
const tokenListeners = new Set();

export class AuthRequired extends Error {
  constructor() {
    super('the UI token is required (CLLAMA_UI_TOKEN)');
    this.name = 'AuthRequired';
  }
}

/** Moves a `#token=...` from the address into sessionStorage and out of the address bar and history; true when it did. */
export function adoptTokenFromHash() {
  const match = /(?:^#|[#&?])token=([^&]*)/.exec(location.hash);
  if (!match) return false;
  const token = safeDecode(match[1]);
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  const rest = location.hash.replace(/[#&?]?token=[^&]*/, '').replace(/^#?&?/, '');
  history.replaceState(null, '', `${location.pathname}#${rest.startsWith('/') ? rest : '/'}`);
  return true;
}

export function currentToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Asks for the token (once per session unless `force`); true when one was given. */
export function askForToken({ force = false } = {}) {
  if (!force && sessionStorage.getItem(ASKED_KEY)) return false;
  sessionStorage.setItem(ASKED_KEY, '1');
  const answer = window.prompt('tollgate UI token (CLLAMA_UI_TOKEN):');
  if (!answer || !answer.trim()) return false;
  sessionStorage.setItem(TOKEN_KEY, answer.trim());
  for (const listener of tokenListeners) listener();
  return true;
}

/** Called whenever the page is given a token in a prompt (the live feed then reconnects with it). */
export function onTokenGiven(listener) {
  tokenListeners.add(listener);
}

/**
 * Trades the held token for the session cookie (a POST with the bearer header), so the live feed's EventSource, which
 * cannot send headers, needs no token in its URL, where proxies and logs would keep it. True when the cookie was set.
 */
export async function openSession() {
  const token = currentToken();
  if (!token) return false;
  try {
    const response = await fetch('/api/session', { method: 'POST', headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
    return response.ok;
  } catch {
    return false;
  }
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function request(path, token, signal) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(path, { headers, signal, cache: 'no-store' });
}

/**
 * GET a JSON route of the admin API. A 401 drops the token that was refused, asks for one once per session (calls made
 * at the same time share the answer) and retries; then AuthRequired.
 */
export async function getJson(path, { signal } = {}) {
  const sent = currentToken();
  let response = await request(path, sent, signal);
  if (response.status === 401) {
    if (sent && currentToken() === sent) forgetToken();
    if (!currentToken() && !askForToken()) throw new AuthRequired();
    const retry = currentToken();
    response = await request(path, retry, signal);
    if (response.status === 401) {
      if (currentToken() === retry) forgetToken();
      throw new AuthRequired();
    }
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body?.error?.message) message = body.error.message;
    } catch {
      // not JSON
    }
    throw new Error(`${path}: ${message}`);
  }
  return response.json();
}

/**
 * The live feed's URL: never with the token (the session cookie, see openSession, carries it); with the last event id
 * seen, so a new connection replays only what was missed.
 */
export function eventsUrl(types, { lastId = 0 } = {}) {
  const params = new URLSearchParams({ types: types.join(',') });
  if (lastId) params.set('last_event_id', String(lastId));
  return `/api/events?${params}`;
}

/**
 * The polling fallback for the feed: one GET of the SSE route with the bearer header, reading the replayed buffer
 * (events after `lastId`) and hanging up once it goes quiet. Returns the parsed events with their ids.
 */
export async function pollEvents(types, { lastId = 0, quietMs = 400, maxMs = 3000 } = {}) {
  const controller = new AbortController();
  const headers = { accept: 'text/event-stream' };
  if (currentToken()) headers.authorization = `Bearer ${currentToken()}`;
  if (lastId) headers['last-event-id'] = String(lastId);
  const params = new URLSearchParams({ types: types.join(',') });
  const stop = setTimeout(() => controller.abort(), maxMs);
  const events = [];
  try {
    const response = await fetch(`/api/events?${params}`, { headers, signal: controller.signal, cache: 'no-store' });
    if (response.status === 401) throw new AuthRequired();
    if (!response.ok || !response.body) throw new Error(`/api/events: ${response.status}`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = '';
    let quiet = null;
    const resetQuiet = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => controller.abort(), quietMs);
    };
    resetQuiet();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let end;
      while ((end = pending.search(/\r?\n\r?\n/)) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end).replace(/^\r?\n\r?\n/, '');
        const parsed = parseSseBlock(block);
        if (parsed) events.push(parsed);
      }
      resetQuiet();
    }
  } catch (error) {
    if (error instanceof AuthRequired) throw error;
    if (error?.name !== 'AbortError' && events.length === 0) throw error;
  } finally {
    clearTimeout(stop);
    controller.abort();
  }
  return events;
}

function parseSseBlock(block) {
  let id = null;
  let name = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = Number(value);
    else if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0 || name !== 'message') return null; // a named event (the feed's ping) is no proxy event
  try {
    return { id, event: JSON.parse(data.join('\n')) };
  } catch {
    return null;
  }
}
