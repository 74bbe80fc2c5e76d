// The dashboard's providers panel in Chromium: add, disable, activate, delete keys through its forms; the token required; a cross-site post refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, watchedPage, WAIT } from '../helpers/browser.ts';
import { startHarness, TEST_FORWARD_HEADERS, type Harness } from '../helpers/harness.ts';

const TOKEN = 'ui-token-dashboard-keys-5678';
const K0 = 'sk-dash-key-zero-000000';

describe('providers panel (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  let evil: Server;
  const file = () => JSON.parse(readFileSync(join(h.root, 'auth', 'providers.json'), 'utf8'));
  const keyIds = () => (file().providers.openai.keys as { id: string }[]).map((key) => key.id);

  before(async () => {
    h = await startHarness({
      env: { CLLAMA_UI_TOKEN: TOKEN },
      providersFile: (url) => ({
        version: 2,
        providers: {
          openai: {
            base_url: `${url}/v1`,
            active_key_id: 'k0',
            forward_headers: TEST_FORWARD_HEADERS,
            keys: [{ id: 'k0', label: 'primary', secret: K0, state: 'ready' }],
          },
        },
      }),
    });
    browser = await launchBrowser();
    // another site whose page posts a form to the UI port at once
    evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(
        `<form id="f" method="post" action="${h.tollgate.uiUrl}/keys/add"><input name="provider" value="openai"><input name="secret" value="sk-planted-by-another-site"></form><script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await browser?.close();
    evil?.close();
    await h?.close();
  });

  const signedIn = async (): Promise<{ page: Page; errors: string[] }> => {
    const watched = await watchedPage(browser);
    await watched.page.goto(`${h.tollgate.uiUrl}/?token=${TOKEN}`);
    await watched.page.waitForSelector('#providers [data-provider="openai"]', WAIT);
    return watched;
  };
  const row = (page: Page, id: string) => page.locator(`#providers tr[data-key-id="${id}"]`);

  it('shows each key masked with its state; adds, disables, activates and deletes through the forms', async () => {
    const { page, errors } = await signedIn();
    assert.equal((await row(page, 'k0').locator('td.secret').textContent())?.trim(), 'sk-d...0000');
    assert.ok(!(await page.content()).includes(K0), 'the secret is nowhere in the page');

    await page.fill('#providers [data-provider="openai"] form.add-key input[name="label"]', 'from-the-panel');
    await page.fill('#providers [data-provider="openai"] form.add-key input[name="secret"]', 'sk-added-in-chromium-1');
    await Promise.all([page.waitForURL(/\/(#\/?)?$/), page.click('#providers [data-provider="openai"] form.add-key button[type="submit"]')]);
    await page.waitForSelector('#providers tr[data-key-id^="runtime:"]', WAIT);
    const added = keyIds()[1];
    assert.match(added, /^runtime:[0-9a-f]{8}$/);
    assert.equal((await row(page, added).locator('td.secret').textContent())?.trim(), 'sk-a...um-1');

    await Promise.all([page.waitForURL(/\/(#\/?)?$/), row(page, 'k0').locator('button[data-action="disable"]').click()]);
    await page.waitForSelector('#providers tr[data-key-id="k0"][data-state="disabled"]', WAIT);
    assert.equal(file().providers.openai.keys[0].state, 'disabled');

    await Promise.all([page.waitForURL(/\/(#\/?)?$/), row(page, 'k0').locator('button[data-action="activate"]').click()]);
    await page.waitForSelector('#providers tr[data-key-id="k0"][data-state="ready"]', WAIT);

    await Promise.all([page.waitForURL(/\/(#\/?)?$/), row(page, added).locator('button[data-action="delete"]').click()]);
    await page.waitForSelector(`#providers tr[data-key-id="${added}"]`, { state: 'detached', ...WAIT });
    assert.deepEqual(keyIds(), ['k0']);
    assert.deepEqual(errors, []);
  });

  it('without the token a form post is refused and nothing changes', async () => {
    const { page } = await watchedPage(browser, { ignoreUnauthorized: true });
    await page.goto(`${h.tollgate.uiUrl}/assets/favicon.svg`); // same origin, no session cookie
    const status = await page.evaluate(
      async (ui) => (await fetch(`${ui}/keys/add`, { method: 'POST', body: new URLSearchParams({ provider: 'openai', secret: 'sk-no-token-000000' }) })).status,
      h.tollgate.uiUrl,
    );
    assert.equal(status, 401);
    assert.deepEqual(keyIds(), ['k0']);
  });

  it('a form another site posts is refused, even from a signed-in browser', async () => {
    const { page } = await signedIn();
    const answer = page.waitForResponse((response) => response.url().endsWith('/keys/add'));
    await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
    assert.ok([401, 403].includes((await answer).status()), 'refused');
    assert.deepEqual(keyIds(), ['k0'], 'the planted key was not added');
  });
});
