// dashboard.test.js: the live dashboard of `cmksim serve` in a real browser (Debian's chromium
// driven by playwright-core): the page loads, lists a CMK server Ready, the "Revoke access"
// button removes the server identity's access policy through the management API, the clock
// moves on (the page's own +10m button) and the server turns Inaccessible on the page, with the
// state change in the live timeline; "Restore access" and the clock bring it back to Ready.
// A screenshot is saved to the build directory's artifacts (and to docs/dashboard.png when
// CMKSIM_UPDATE_DOCS=1).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const c = require('./lib/cmksim');

const SUB = `/subscriptions/${c.subscriptionId}`;
const RG = `${SUB}/resourceGroups/rg-dash`;
const MGMT = 'https://management.azure.com';
const ADMIN_OID = 'ad000000-c0de-4000-8000-000000000002';
const artifacts = process.env.CMKSIM_ARTIFACTS || path.resolve('artifacts');

async function arm(token, method, p, body) {
  const r = await c.request(method, `${MGMT}${p}`, { token, body });
  assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${r.text}`);
  return r.body;
}

// A CMK server the way a user sets one up: identity, vault with an access policy for it, key.
async function setUp() {
  const mgmt = await c.token('https://management.azure.com/.default');
  const vaultTok = await c.token('https://vault.azure.net/.default');
  await arm(mgmt, 'PUT', `${RG}?api-version=2021-04-01`, { location: 'eastus' });
  const id = await arm(mgmt, 'PUT',
    `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-dash?api-version=2023-01-31`,
    { location: 'eastus' });
  const policy = (oid, keys) => ({ tenantId: c.tenantId, objectId: oid, permissions: { keys } });
  await arm(mgmt, 'PUT', `${RG}/providers/Microsoft.KeyVault/vaults/kv-dash?api-version=2023-07-01`, {
    location: 'eastus',
    properties: {
      tenantId: c.tenantId, sku: { family: 'A', name: 'standard' }, enablePurgeProtection: true,
      softDeleteRetentionInDays: 90,
      accessPolicies: [policy(ADMIN_OID, ['all']),
        policy(id.properties.principalId, ['get', 'list', 'wrapKey', 'unwrapKey'])],
    },
  });
  const key = await c.request('POST', 'https://kv-dash.vault.azure.net/keys/cmk/create?api-version=7.5',
    { token: vaultTok, body: { kty: 'RSA', key_size: 2048 } });
  assert.equal(key.status, 200, key.text);
  await arm(mgmt, 'PUT', `${RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-dash?api-version=2022-12-01`, {
    location: 'eastus',
    sku: { name: 'Standard_D2s_v3', tier: 'GeneralPurpose' },
    identity: { type: 'UserAssigned', userAssignedIdentities: { [id.id]: {} } },
    properties: {
      version: '16', administratorLogin: 'pgadmin', administratorLoginPassword: 'Str0ng!Passw0rd',
      storage: { storageSizeGB: 32 },
      dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: key.body.key.kid,
        primaryUserAssignedIdentityId: id.id },
    },
  });
  // The create takes minutes of service time: move the emulator's clock over it.
  await arm(mgmt, 'POST', '/_cmksim/clock/advance', { duration: '5m' });
  const s = await arm(mgmt, 'GET',
    `${RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-dash?api-version=2022-12-01`);
  assert.equal(s.properties.state, 'Ready');
}

async function launch() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cmksim-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync'],
    ignoreHTTPSErrors: true, // the page's certificate is the emulator CA's, unknown to chromium
    viewport: { width: 1440, height: 980 },
  });
  return { context, userDataDir };
}

// Wait until the state cell of the server shows want, pressing the page's +10m clock button
// every few seconds (the key monitor acts on the emulator's clock, not on ours).
async function waitForState(page, want, { maxPresses = 8 } = {}) {
  const cell = page.locator('[data-testid="state-pg-dash"]');
  for (let i = 0; i <= maxPresses; i++) {
    try {
      await page.waitForFunction((w) => {
        const el = document.querySelector('[data-testid="state-pg-dash"]');
        return el && el.textContent.trim() === w;
      }, want, { timeout: 3000 });
      return;
    } catch { /* not yet */ }
    if (i < maxPresses) await page.click('button[data-clock="advance"][data-by="10m"]');
  }
  assert.equal((await cell.textContent()).trim(), want);
}

test('the dashboard shows a server losing and regaining its key', { timeout: 240000 }, async () => {
  await setUp();
  const { context, userDataDir } = await launch();
  const errors = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    const port = Number(c.info.https.split(':').pop());
    await page.goto(`https://management.localhost:${port}/`);

    // The page read everything through the APIs: server, vault with its key, identity, clock.
    await page.waitForSelector('[data-testid="state-pg-dash"] .badge.Ready', { timeout: 20000 });
    assert.equal((await page.textContent('[data-testid="keystatus-pg-dash"]')).trim(), 'Valid');
    await page.waitForSelector('.vault[data-vault="kv-dash"] td.mono:text-is("cmk")');
    await page.waitForSelector('#identities td:text-is("id-dash")');
    assert.match(await page.textContent('[data-testid="clock-time"]'), /^20\d\d-\d\d-\d\dT/);
    await page.waitForSelector('#conn.live');

    // Revoke: the identity's access policy goes away; the clock runs; Inaccessible.
    await page.click('button[data-action="revoke"][data-server="pg-dash"]');
    await page.waitForSelector('#toast.info:has-text("Revoke access: done")');
    await waitForState(page, 'Inaccessible');
    assert.equal((await page.textContent('[data-testid="keystatus-pg-dash"]')).trim(), 'Invalid');
    await page.waitForSelector('#timeline li[data-kind="server.state"].bad', { timeout: 10000 });
    const timeline = await page.textContent('#timeline');
    assert.match(timeline, /Ready → Inaccessible/);
    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'dashboard-inaccessible.png'), fullPage: true });
    if (process.env.CMKSIM_UPDATE_DOCS === '1') {
      const docs = path.resolve(__dirname, '../../docs');
      fs.mkdirSync(docs, { recursive: true });
      await page.screenshot({ path: path.join(docs, 'dashboard.png'), fullPage: false });
    }

    // Restore: the policy comes back; the clock runs; Ready.
    await page.click('button[data-action="restore"][data-server="pg-dash"]');
    await page.waitForSelector('#toast.info:has-text("Restore access: done")');
    await waitForState(page, 'Ready');
    assert.equal((await page.textContent('[data-testid="keystatus-pg-dash"]')).trim(), 'Valid');
    await page.waitForSelector('#timeline li[data-kind="server.state"].good', { timeout: 10000 });
    assert.match(await page.textContent('#timeline'), /Inaccessible → Ready/);
    await page.screenshot({ path: path.join(artifacts, 'dashboard-ready.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
});

test('the page token is only for this machine, the event stream only for the admin', async () => {
  const events = await c.request('GET', 'https://management.azure.com/_cmksim/events');
  assert.equal(events.status, 401);
  const cross = await c.request('POST', 'https://management.azure.com/_cmksim/dashboard/token',
    { headers: { 'sec-fetch-site': 'cross-site' } });
  assert.equal(cross.status, 403);
  assert.equal(cross.body.error.code, 'Forbidden');
  const local = await c.request('POST', 'https://management.azure.com/_cmksim/dashboard/token');
  assert.equal(local.status, 200);
  assert.ok(local.body.management && local.body.vault);
  const relay = await c.request('POST', 'https://management.azure.com/_cmksim/dashboard/call',
    { body: { method: 'GET', url: 'https://example.com/' } });
  assert.equal(relay.status, 400);
});
