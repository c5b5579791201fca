// postgres-clock.test.js: rules R9-R11 on the emulator's clock with the default timing profile
// (the seed's windows), as the real SDKs see them. One CMK server per way of losing its key
// (R9): permission revoked, firewall closed to trusted services, identity deleted (revocations:
// Inaccessible within 10 minutes), key disabled, key expired, key deleted, vault deleted (within
// 60 minutes); then each recovery path (R11): re-grant, reopen, a new identity assigned, enable,
// extend, recover the key, recover the vault (Ready again within 60 minutes). Time moves with
// POST /_cmksim/clock/advance (what `cmksim clock advance` calls); the key monitor's checks are
// in-process calls to the vault with the server's identity.
'use strict';
const assert = require('node:assert/strict');
const { KeyClient } = require('@azure/keyvault-keys');
const { KeyVaultManagementClient } = require('@azure/arm-keyvault');
const { ManagedServiceIdentityClient } = require('@azure/arm-msi');
const { ResourceManagementClient } = require('@azure/arm-resources');
const { PostgreSQLManagementFlexibleServerClient } = require('@azure/arm-postgresql-flexible');
const c = require('./lib/cmksim');
const { adminCredential, uniqueName, all, mgmt, gated, loginRefused, pgClient } = require('./lib/azure');

const test = gated('Microsoft.DBforPostgreSQL', 'the flexibleServers provider');
const rg = 'rg-pgclock';
const location = 'westeurope';
const poll = { updateIntervalInMs: 50 };
const WRAP = ['get', 'list', 'wrapKey', 'unwrapKey'];

// Clients with a new credential: after a jump of the emulator's clock cached tokens may have
// expired (they live one hour of that clock), as they would have in the cloud.
let az;
function clients() {
  const cred = adminCredential();
  az = { cred, pg: new PostgreSQLManagementFlexibleServerClient(cred, c.subscriptionId),
    kvm: new KeyVaultManagementClient(cred, c.subscriptionId),
    msi: new ManagedServiceIdentityClient(cred, c.subscriptionId),
    rm: new ResourceManagementClient(cred, c.subscriptionId),
    keys: (vault) => new KeyClient(`https://${vault}.vault.azure.net`, cred) };
}
clients();

async function advance(duration) {
  const token = await c.token('https://management.azure.com/.default');
  const r = await c.request('POST', `${mgmt}/_cmksim/clock/advance`, { token, body: { duration } });
  assert.equal(r.status, 200, r.text);
  clients();
}

let adminOid;
const vaults = {};
const ids = {};
const servers = {}; // cause -> {name, key, version}

async function makeVault(role, policies) {
  const name = uniqueName(`kvclk${role}`.slice(0, 10));
  await az.kvm.vaults.beginCreateOrUpdateAndWait(rg, name, { location, properties: {
    tenantId: c.tenantId, sku: { family: 'A', name: 'standard' }, enableSoftDelete: true,
    softDeleteRetentionInDays: 90, enablePurgeProtection: true,
    accessPolicies: [{ tenantId: c.tenantId, objectId: adminOid, permissions: { keys: ['all'] } },
      ...policies.map((mi) => ({ tenantId: c.tenantId, objectId: mi.principalId, permissions: { keys: WRAP } }))],
  } }, poll);
  vaults[role] = name;
  return name;
}

const policy = (mi) => ({ properties: { accessPolicies: [{ tenantId: c.tenantId, objectId: mi.principalId,
  permissions: { keys: WRAP } }] } });
const state = async (cause) => (await az.pg.servers.get(rg, servers[cause].name));

const CAUSES = ['revoked', 'firewall', 'identity', 'disabled', 'expired', 'keydeleted', 'vaultdeleted'];

test.before(async () => {
  adminOid = JSON.parse(Buffer.from((await az.cred.getToken('https://vault.azure.net/.default')).token
    .split('.')[1], 'base64url')).oid;
  await az.rm.resourceGroups.createOrUpdate(rg, { location });
  for (const cause of CAUSES) {
    ids[cause] = await az.msi.userAssignedIdentities.createOrUpdate(rg, `id-${cause}`, { location });
  }
  await makeVault('shared', CAUSES.filter((x) => !['firewall', 'vaultdeleted'].includes(x)).map((x) => ids[x]));
  await makeVault('fw', [ids.firewall]);
  await makeVault('gone', [ids.vaultdeleted]);
  for (const cause of CAUSES) {
    const vault = cause === 'firewall' ? vaults.fw : cause === 'vaultdeleted' ? vaults.gone : vaults.shared;
    const k = await az.keys(vault).createRsaKey(`k-${cause}`, { keySize: 2048 });
    const name = uniqueName(`pg${cause}`.slice(0, 12));
    servers[cause] = { name, vault, key: `k-${cause}`, version: k.properties.version };
    await az.pg.servers.beginCreateOrUpdate(rg, name, {
      location, tags: { 'cmksim-profile': 'default' },
      identity: { type: 'UserAssigned', userAssignedIdentities: { [ids[cause].id]: {} } },
      administratorLogin: 'pgadmin', administratorLoginPassword: 'Sandbox-Passw0rd!', version: '16',
      dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: `https://${vault}.vault.azure.net/keys/k-${cause}`,
        primaryUserAssignedIdentityId: ids[cause].id },
    }, poll);
  }
});

test('the default profile creates the servers within its operation time', async () => {
  assert.equal((await state('revoked')).state, 'Provisioning');
  await advance('5m');
  for (const cause of CAUSES) {
    const s = await state(cause);
    assert.equal(s.state, 'Ready', cause);
    assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Valid', cause);
  }
});

test('revocations (permission, firewall, identity) turn the server Inaccessible within 10 minutes', async () => {
  await az.kvm.vaults.updateAccessPolicy(rg, vaults.shared, 'remove', policy(ids.revoked));
  await az.kvm.vaults.update(rg, vaults.fw, { properties: { networkAcls: { defaultAction: 'Deny', bypass: 'None', ipRules: [] } } });
  await az.msi.userAssignedIdentities.delete(rg, 'id-identity');
  await advance('10m');
  for (const cause of ['revoked', 'firewall', 'identity']) {
    const s = await state(cause);
    assert.equal(s.state, 'Inaccessible', cause);
    assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Invalid', cause);
  }
  for (const cause of ['disabled', 'expired', 'keydeleted', 'vaultdeleted']) assert.equal((await state(cause)).state, 'Ready', cause);
});

test('a disabled, expired or deleted key or a deleted vault: Inaccessible within 60 minutes', async () => {
  const kc = az.keys(vaults.shared);
  await kc.updateKeyProperties('k-disabled', servers.disabled.version, { enabled: false });
  const clock = await c.request('GET', `${mgmt}/_cmksim/clock`, { token: await c.token('https://management.azure.com/.default') });
  assert.equal(clock.status, 200, clock.text);
  await kc.updateKeyProperties('k-expired', servers.expired.version, { expiresOn: new Date(clock.body.timeMs + 60 * 1000) });
  await (await kc.beginDeleteKey('k-keydeleted', { intervalInMs: 50 })).pollUntilDone();
  await az.kvm.vaults.delete(rg, vaults.gone);
  await advance('61m');
  for (const cause of CAUSES) {
    const s = await state(cause);
    assert.equal(s.state, 'Inaccessible', cause);
  }
  // R10: resource health turns Unavailable after the first connection the server denies
  const healthOf = async (cause) => c.request('GET', `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${servers[cause].name}/providers/Microsoft.ResourceHealth/availabilityStatuses/current?api-version=2023-10-01-preview`,
    { token: await c.token('https://management.azure.com/.default') });
  const e = await loginRefused(servers.disabled.name);
  assert.match(e.message, /k-disabled/, e.message);
  const health = await healthOf('disabled');
  assert.equal(health.status, 200, health.text);
  assert.equal(health.body.properties.availabilityState, 'Unavailable');
  assert.match(health.body.properties.summary ?? '', /key/i);
});

test('every recovery path brings its server back within 60 minutes', async () => {
  const kc = az.keys(vaults.shared);
  await az.kvm.vaults.updateAccessPolicy(rg, vaults.shared, 'add', policy(ids.revoked));
  await az.kvm.vaults.update(rg, vaults.fw, { properties: { networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices', ipRules: [] } } });
  // a deleted identity cannot come back: assign a new one with its own grant (allowed while Inaccessible)
  const fresh = await az.msi.userAssignedIdentities.createOrUpdate(rg, 'id-identity-new', { location });
  await az.kvm.vaults.updateAccessPolicy(rg, vaults.shared, 'add', policy(fresh));
  // (the deleted one leaves the map with null, ARM's merge rule; long-running on the default
  // profile: the clock's advance below completes it)
  await az.pg.servers.beginUpdate(rg, servers.identity.name, {
    identity: { type: 'UserAssigned', userAssignedIdentities: { [ids.identity.id]: null, [fresh.id]: {} } },
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: `https://${vaults.shared}.vault.azure.net/keys/k-identity`,
      primaryUserAssignedIdentityId: fresh.id } }, poll);
  await kc.updateKeyProperties('k-disabled', servers.disabled.version, { enabled: true });
  await kc.updateKeyProperties('k-expired', servers.expired.version, { expiresOn: new Date(Date.now() + 365 * 86400000) });
  await (await kc.beginRecoverDeletedKey('k-keydeleted', { intervalInMs: 50 })).pollUntilDone();
  await az.kvm.vaults.beginCreateOrUpdateAndWait(rg, vaults.gone, { location, properties: {
    tenantId: c.tenantId, sku: { family: 'A', name: 'standard' }, createMode: 'recover' } }, poll);
  await advance('61m');
  for (const cause of CAUSES) {
    const s = await state(cause);
    assert.equal(s.state, 'Ready', cause);
    assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Valid', cause);
  }
  const since = new Date(Date.now() - 86400000).toISOString();
  const log = await c.request('GET', `${mgmt}/subscriptions/${c.subscriptionId}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=${encodeURIComponent(`eventTimestamp ge '${since}'`)}`,
    { token: await c.token('https://management.azure.com/.default') });
  assert.equal(log.status, 200, log.text);
  for (const cause of CAUSES) {
    const mine = log.body.value.filter((e) => (e.resourceId ?? '').toLowerCase().endsWith(`/flexibleservers/${servers[cause].name}`))
      .map((e) => e.operationName?.value ?? '');
    assert.ok(mine.some((o) => /encryptionKey(AccessFailed|Inaccessible)/.test(o)), `${cause} failure logged: ${mine}`);
    assert.ok(mine.some((o) => /encryptionKeyAccessRestored/.test(o)), `${cause} recovery logged: ${mine}`);
  }
  assert.ok((await all(az.pg.servers.listByResourceGroup(rg))).length >= CAUSES.length);
  const cl = pgClient(servers.disabled.name);
  await cl.connect();
  assert.equal((await cl.query('SELECT 1 AS one')).rows[0].one, 1, 'logins work again');
  await cl.end();
});
