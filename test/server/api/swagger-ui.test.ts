/**
 * Swagger UI in headless Chromium: /docs renders every operation of the document, and
 * "Try it out" on an authenticated GET works against the running server once a token is
 * entered in the Authorize dialog. Needs Debian's chromium (.ci/steps/40-chromium.sh); in CI
 * a missing browser fails the test instead of skipping it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { ADMIN_NAME, startTestService, type TestService } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const skip = !available && !process.env.CI ? `no ${CHROMIUM} (install Debian's chromium; CI fails here instead)` : false;

describe('Swagger UI in headless Chromium', { skip }, () => {
  let t: TestService;
  let browser: Browser;

  before(async () => {
    assert.ok(available, `${CHROMIUM} is missing: .ci/steps/40-chromium.sh installs it`);
    t = await startTestService();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('renders the operations and runs an authenticated GET with "Try it out"', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${t.url}/docs/`);
    await page.waitForSelector('.swagger-ui .opblock', { timeout: 30_000 });
    assert.match(await page.locator('.swagger-ui .info .title').innerText(), /Hanami/);
    const operations = await page.locator('.swagger-ui .opblock').count();
    const documented = Object.values(t.service.services.openapi.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    assert.equal(operations, documented, 'every documented operation is shown');

    await page.click('.swagger-ui .btn.authorize');
    await page.fill('.swagger-ui .modal-ux input[type=text]', t.admin.token ?? '');
    await page.click('.swagger-ui .modal-ux .auth-btn-wrapper .btn.authorize');
    await page.click('.swagger-ui .modal-ux .btn-done');

    const block = page.locator('#operations-users-getMe');
    await block.locator('.opblock-summary').click();
    await block.locator('.try-out__btn').click();
    await block.locator('.execute').click();
    const status = block.locator('.live-responses-table tr.response .response-col_status').first();
    await status.waitFor({ timeout: 30_000 });
    assert.equal((await status.innerText()).trim(), '200');
    const body = await block.locator('.live-responses-table tr.response .response-col_description pre').first().innerText();
    assert.equal(JSON.parse(body).name, ADMIN_NAME);
    assert.deepEqual(errors, []);
  });
});
