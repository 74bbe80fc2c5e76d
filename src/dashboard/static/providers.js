// The providers panel: each key masked as cllama shows it, its state and cooldown countdown, last error, requests and spend, and cllama's forms.
import { h } from './dom.js';
import { formatCount, formatUsd } from './format.js';
import { untrusted } from './text.js';

const STATE_TONE = { ready: 'ok', cooldown: 'warn', dead: 'over', disabled: null };

/** The panel; its forms post to cllama's routes (the session cookie carries the token), which answer 303 back to /. */
export function renderProviders({ providers, fetchedAt }) {
  return h(
    'section',
    { id: 'providers' },
    h('h2', {}, `Providers (${providers.length})`),
    providers.length === 0 ? h('div', { class: 'card empty' }, 'No provider is configured.') : providers.map((provider) => providerCard(provider, fetchedAt)),
    h(
      'details',
      { class: 'card add-provider' },
      h('summary', {}, 'Add a provider'),
      form(
        '/providers/add',
        {},
        field('name', 'name'),
        field('base URL', 'base_url', { placeholder: 'https://api.example.com/v1' }),
        select('auth', 'auth', ['bearer', 'x-api-key', 'none']),
        select('API format', 'api_format', ['openai', 'anthropic']),
        field('key label', 'key_label', { placeholder: 'primary' }),
        field('key', 'secret', { type: 'password', autocomplete: 'off' }),
        h('button', { type: 'submit' }, 'Add provider'),
      ),
    ),
  );
}

function providerCard(provider, fetchedAt) {
  return h(
    'div',
    { class: 'card provider', data: { provider: provider.name } },
    h(
      'div',
      { class: 'provider-head' },
      h('strong', {}, untrusted(provider.name, { max: 60 })),
      h('span', { class: 'sub' }, untrusted(provider.base_url, { max: 100 })),
      h(
        'span',
        { class: 'sub' },
        `strategy ${provider.key_strategy} · ${provider.counts.ready} ready · ${provider.counts.cooldown} cooling · ${provider.counts.dead} dead`,
      ),
    ),
    h(
      'table',
      { class: 'keys' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['key', 'label', 'secret', 'state', 'last error', 'requests', 'spend', ''].map((title) => h('th', {}, title)),
        ),
      ),
      h(
        'tbody',
        {},
        provider.keys.map((key) => keyRow(provider, key, fetchedAt)),
      ),
    ),
    form(
      '/keys/add',
      { class: 'add-key' },
      hidden('provider', provider.name),
      field('label', 'label'),
      field('key', 'secret', { type: 'password', autocomplete: 'off' }),
      h('button', { type: 'submit' }, 'Add key'),
    ),
  );
}

function keyRow(provider, key, fetchedAt) {
  const active = provider.active_key_id === key.id;
  const cooling = key.state === 'cooldown' && key.cooldown_remaining_ms !== null;
  return h(
    'tr',
    { data: { keyId: key.id, state: key.state } },
    h('td', {}, untrusted(key.id, { max: 60 }), active ? h('span', { class: 'pill', data: { tone: 'ok' } }, 'active') : null),
    h('td', {}, untrusted(key.label ?? '', { max: 40 })),
    h('td', { class: 'secret' }, key.masked_secret),
    h(
      'td',
      {},
      h('span', { class: 'pill key-state', data: { tone: STATE_TONE[key.state], state: key.state } }, key.state),
      cooling ? h('span', { class: 'countdown', data: { resetAt: fetchedAt + key.cooldown_remaining_ms } }, '') : null,
    ),
    h('td', { class: 'last-error' }, key.last_error_code ? `${key.last_error_code} ${key.last_error_reason ?? ''} · ${key.last_error_at ?? ''}` : ''),
    h('td', { class: 'num' }, formatCount(key.requests)),
    h('td', { class: 'num' }, formatUsd(key.spend_usd)),
    h(
      'td',
      { class: 'actions' },
      ['activate', 'disable', 'delete'].map((action) =>
        form(
          `/keys/${action}`,
          { class: 'inline' },
          hidden('provider', provider.name),
          hidden('key_id', key.id),
          h('button', { type: 'submit', data: { action } }, action),
        ),
      ),
    ),
  );
}

function form(action, props, ...children) {
  return h('form', { method: 'post', action, ...props }, ...children);
}

function hidden(name, value) {
  return h('input', { type: 'hidden', name, value });
}

function field(label, name, props = {}) {
  return h('label', {}, `${label} `, h('input', { name, ...props }));
}

function select(label, name, options) {
  return h(
    'label',
    {},
    `${label} `,
    h(
      'select',
      { name },
      options.map((option) => h('option', { value: option }, option)),
    ),
  );
}
