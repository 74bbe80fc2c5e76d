// Dashboard entry: routing (#/ and #/agents/<id>), refresh from the admin API, the live feed over SSE with polling fallback.
import { AuthRequired, adoptTokenFromHash, askForToken, getJson, onTokenGiven, pollEvents } from './api.js';
import { defaultChartWindow, renderAgent } from './agent.js';
import { h, replace } from './dom.js';
import { FEED_TYPES, MAX_FEED_ITEMS, REFRESH_TYPES, describeEvent, feedItem } from './feed.js';
import { formatDuration } from './format.js';
import { LiveFeed } from './live.js';
import { renderOverview } from './overview.js';
import { renderProviders } from './providers.js';
import { isAgentId, parseRoute } from './route.js';
import { clip, untrusted, visibleText } from './text.js';

const POLL_LIVE_MS = 15_000;
const POLL_FALLBACK_MS = 4_000;
const REFRESH_DEBOUNCE_MS = 400;
/**
 * Under steady traffic (an event every few hundred ms) the numbers still refresh this often, not only on the poll; a
 * fleet whose refresh takes long waits five times that, so an open dashboard never keeps the UI port busy.
 */
const REFRESH_MAX_WAIT_MS = 2_000;
const REFRESH_DUTY_FACTOR = 5;
const HISTORY_PAGES = 10;

const view = document.getElementById('view');
const state = {
  route: parseRoute(location.hash),
  fetchedAt: 0,
  chartWindow: null,
  feedEvents: [],
  lastEventId: 0,
  live: 'connecting',
  refreshing: null,
  refreshAgain: false,
  refreshTimer: null,
  refreshDue: null,
  refreshTookMs: 0,
  pollTimer: null,
};
const liveFeed = new LiveFeed({
  types: [...FEED_TYPES, ...REFRESH_TYPES],
  lastId: () => state.lastEventId,
  onEvent: (item) => addEvents([item], { fresh: true }),
  onMode: (mode) => setLive(mode),
});

const feedList = h('ul', { class: 'feed', id: 'feed-list' });
const feedCounts = h('span', { class: 'counts' });
const feedTitle = h('h2', {}, 'Interventions');
const feedCard = h('div', {}, h('div', { class: 'feed-head' }, feedTitle, feedCounts), h('div', { class: 'card' }, feedList));

async function refresh() {
  if (state.refreshing) {
    state.refreshAgain = true;
    return state.refreshing;
  }
  state.refreshing = (async () => {
    do {
      state.refreshAgain = false;
      const started = Date.now();
      try {
        await render();
        showBanner(null);
      } catch (error) {
        if (error instanceof AuthRequired) showBanner('This dashboard needs the UI token (CLLAMA_UI_TOKEN).', { action: 'Enter token', onAction: signIn });
        else showBanner(`Could not load: ${error.message}`);
      }
      state.refreshTookMs = Date.now() - started;
    } while (state.refreshAgain);
    state.refreshing = null;
  })();
  return state.refreshing;
}

async function render() {
  const route = state.route;
  if (route.page === 'agent' && !isAgentId(route.id)) {
    document.title = 'tollgate';
    replace(
      view,
      h('div', { class: 'card empty', id: 'not-found' }, h('a', { class: 'crumb', href: '#/' }, '← All agents'), h('p', {}, 'No agent has that name.')),
    );
  } else if (route.page === 'agent') {
    const [detail, summary] = await Promise.all([getJson(`/api/agents/${encodeURIComponent(route.id)}`), getJson('/api/summary')]);
    if (!state.chartWindow || state.chartWindow.agent !== route.id) state.chartWindow = { agent: route.id, ...defaultChartWindow(detail.agent) };
    const history = await windowHistory(route.id, state.chartWindow.window_ms);
    if (route !== state.route) return;
    state.fetchedAt = Date.now();
    updateTopbar(summary);
    document.title = `${route.id} · tollgate`;
    replace(
      view,
      renderAgent({
        detail,
        history,
        chartWindow: state.chartWindow,
        fetchedAt: state.fetchedAt,
        onWindow: (window) => {
          state.chartWindow = { agent: route.id, ...window };
          void refresh();
        },
      }),
      h('section', {}, feedCard),
    );
  } else {
    const [summary, agents, shared, providers] = await Promise.all([
      getJson('/api/summary'),
      getJson('/api/agents'),
      getJson('/api/shared'),
      getJson('/api/providers').catch(() => ({ providers: null })),
    ]);
    if (route !== state.route) return;
    state.fetchedAt = Date.now();
    updateTopbar(summary);
    document.title = summary.pod ? `${clip(visibleText(summary.pod), 60)} · tollgate` : 'tollgate';
    replace(
      view,
      renderOverview({ summary, agents: agents.agents, shared: shared.shared, fetchedAt: state.fetchedAt, feed: feedCard }),
      providers.providers ? renderProviders({ providers: providers.providers, fetchedAt: state.fetchedAt }) : null,
    );
  }
  renderFeed();
  view.dataset.loadedAt = String(state.fetchedAt);
}

/** The agent's calls in the window, oldest first, following `next.after` for a few pages. */
async function windowHistory(agentId, windowMs) {
  let after = new Date(Date.now() - windowMs).toISOString();
  const entries = [];
  for (let page = 0; page < HISTORY_PAGES; page++) {
    const result = await getJson(`/api/agents/${encodeURIComponent(agentId)}/history?after=${encodeURIComponent(after)}&limit=1000`);
    entries.push(...result.entries);
    if (!result.next?.after) return { entries, truncated: false };
    after = result.next.after;
  }
  return { entries, truncated: true };
}

function updateTopbar(summary) {
  replace(document.getElementById('pod'), untrusted(summary.pod, { max: 60 }));
  const ledger = document.getElementById('ledger-status');
  ledger.dataset.state = summary.ledger?.ok ? 'ok' : 'down';
  ledger.textContent = `ledger ${summary.ledger?.kind ?? ''}${summary.ledger?.ok ? '' : ' down'}`.trim();
}

function showBanner(message, options = {}) {
  const banner = document.getElementById('banner');
  if (!message) {
    banner.hidden = true;
    return;
  }
  replace(banner, message, options.action ? h('button', { type: 'button', on: { click: options.onAction } }, options.action) : null);
  banner.hidden = false;
}

function signIn() {
  if (askForToken({ force: true })) void refresh(); // the live feed reconnects through onTokenGiven
}

// ---- live feed ----

function addEvents(items, { fresh }) {
  let feedChanged = false;
  let numbersChanged = false;
  for (const { id, event } of items) {
    if (id !== null && id !== undefined) {
      if (id <= state.lastEventId) continue;
      state.lastEventId = id;
    }
    numbersChanged = true;
    if (!FEED_TYPES.includes(event.type) || !describeEvent(event)) continue;
    state.feedEvents.unshift({ event, fresh });
    feedChanged = true;
  }
  if (state.feedEvents.length > MAX_FEED_ITEMS) state.feedEvents.length = MAX_FEED_ITEMS;
  if (feedChanged) renderFeed();
  if (numbersChanged && fresh) scheduleRefresh();
}

/** The feed of the whole fleet on the overview, of one agent on its page. */
function renderFeed() {
  const only = state.route.page === 'agent' ? state.route.id : null;
  const shown = state.feedEvents.filter(({ event }) => only === null || event.claw_id === only);
  const items = shown.map(({ event, fresh }) => feedItem(event, { fresh })).filter(Boolean);
  for (const item of state.feedEvents) item.fresh = false;
  feedTitle.textContent = only === null ? 'Interventions' : `Interventions for ${only}`;
  if (items.length === 0)
    replace(feedList, h('li', { class: 'empty' }, 'No interventions yet: blocks, alerts, downgrades and overrides appear here as they happen.'));
  else replace(feedList, items);
  const blocks = shown.filter(({ event }) => describeEvent(event)?.kind === 'block').length;
  feedCounts.textContent = `${shown.length} shown${blocks ? ` · ${blocks} blocked` : ''}`;
  feedCounts.dataset.blocks = String(blocks);
}

function setLive(mode) {
  state.live = mode;
  const element = document.getElementById('live-status');
  element.dataset.state = mode;
  element.textContent = { live: 'live', polling: 'polling', connecting: 'connecting', down: 'offline' }[mode];
  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(() => void poll(), mode === 'live' ? POLL_LIVE_MS : POLL_FALLBACK_MS);
}

async function poll() {
  if (state.live !== 'live') {
    try {
      const events = await pollEvents([...FEED_TYPES, ...REFRESH_TYPES], { lastId: state.lastEventId });
      addEvents(events, { fresh: true });
    } catch {
      // the numbers below still refresh
    }
  }
  await refresh();
}

/** A refresh once events pause for REFRESH_DEBOUNCE_MS, and at the latest the max wait (see above) after the first. */
function scheduleRefresh() {
  const now = Date.now();
  state.refreshDue ??= now + Math.min(POLL_LIVE_MS, Math.max(REFRESH_MAX_WAIT_MS, REFRESH_DUTY_FACTOR * state.refreshTookMs));
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(
    () => {
      state.refreshDue = null;
      void refresh();
    },
    Math.max(0, Math.min(REFRESH_DEBOUNCE_MS, state.refreshDue - now)),
  );
}

// ---- countdowns and the "updated" clock ----

function tick() {
  const now = Date.now();
  liveFeed.check(now);
  let expired = false;
  for (const element of view.querySelectorAll('.countdown')) {
    const left = Number(element.dataset.resetAt) - now;
    element.textContent = formatDuration(left);
    if (left <= 0 && !element.dataset.expired) {
      element.dataset.expired = '1';
      expired = true;
    }
  }
  if (expired) scheduleRefresh();
  const updated = document.getElementById('updated');
  if (state.fetchedAt) updated.textContent = `updated ${Math.max(0, Math.round((now - state.fetchedAt) / 1000))}s ago`;
}

window.addEventListener('hashchange', () => {
  if (adoptTokenFromHash()) liveFeed.restart();
  state.route = parseRoute(location.hash);
  window.scrollTo(0, 0);
  void refresh();
});

adoptTokenFromHash();
state.route = parseRoute(location.hash);
onTokenGiven(() => liveFeed.restart());
liveFeed.start();
setInterval(tick, 1000);
void refresh();
