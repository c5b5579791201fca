// postgres.test.js: PostgreSQL flexible servers with customer-managed keys as the real
// @azure/arm-postgresql-flexible sees them at its default endpoint (management.azure.com through
// cmksim's proxy), with @azure/arm-msi, @azure/arm-keyvault and @azure/keyvault-keys arranging
// identities, vaults and keys (issue 5, Tests): create a CMK server, get, list, update the key,
// stop/start/restart, restore, replica, geo-restore, delete, each refusal of R4-R7, R15, R16, a
// lost key found by revalidation, and kill -9 in the middle of a long-running create. The loss
// causes of R9 on the emulator's clock are in postgres-clock.test.js.
// Servers are tagged cmksim-profile=instant (operations complete at once) except where a test
// needs an operation in flight.
'use strict';
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { KeyClient } = require('@azure/keyvault-keys');
const { KeyVaultManagementClient } = require('@azure/arm-keyvault');
const { ManagedServiceIdentityClient } = require('@azure/arm-msi');
const { ResourceManagementClient } = require('@azure/arm-resources');
const { PostgreSQLManagementFlexibleServerClient } = require('@azure/arm-postgresql-flexible');
const c = require('./lib/cmksim');
const { adminCredential, uniqueName, rejects, all, mgmt, gated, loginRefused } = require('./lib/azure');

const test = gated('Microsoft.DBforPostgreSQL', 'the flexibleServers provider');
const kvTest = gated('Microsoft.KeyVault', 'vaultsim');
void kvTest;

let cred;
let pg;
let kvm;
let msi;
let rm;
// New credential and clients: after the emulator's clock jumps past an hour, cached tokens have
// expired (they live one hour of that clock), as they would have in the cloud.
function newClients() {
  cred = adminCredential();
  pg = new PostgreSQLManagementFlexibleServerClient(cred, c.subscriptionId);
  kvm = new KeyVaultManagementClient(cred, c.subscriptionId);
  msi = new ManagedServiceIdentityClient(cred, c.subscriptionId);
  rm = new ResourceManagementClient(cred, c.subscriptionId);
}
newClients();
const rg = 'rg-pg';
const location = 'westeurope';
const pair = 'northeurope'; // westeurope's geo pair
const poll = { updateIntervalInMs: 50 };
const OTHER_TENANT = '22222222-2222-4222-8222-222222222222';
const WRAP = ['get', 'list', 'wrapKey', 'unwrapKey'];

const ids = {}; // name -> identity resource
const vaults = {}; // role -> vault name
const keyUri = {}; // role -> versionless key URI
let adminOid;

async function identity(name, loc = location) {
  ids[name] = await msi.userAssignedIdentities.createOrUpdate(rg, name, { location: loc });
  return ids[name];
}

async function vault(role, { loc = location, purgeProtection = true, retention = 90, tenantId = c.tenantId,
  policies = [] } = {}) {
  const name = uniqueName(`kvpg${role}`.slice(0, 10));
  await kvm.vaults.beginCreateOrUpdateAndWait(rg, name, { location: loc, properties: {
    tenantId, sku: { family: 'A', name: 'standard' }, enableSoftDelete: true,
    softDeleteRetentionInDays: retention, enablePurgeProtection: purgeProtection || undefined,
    accessPolicies: [{ tenantId, objectId: adminOid, permissions: { keys: ['all'] } },
      ...policies.map(([mi, perms]) => ({ tenantId, objectId: mi.principalId, permissions: { keys: perms } }))],
  } }, poll);
  vaults[role] = name;
  return name;
}

function serverBody({ key, id = ids['id-pg'], geo, tags = {}, extra = {}, identities } = {}) {
  const map = {};
  for (const mi of identities ?? [id, geo?.id].filter(Boolean)) map[mi.id] = {};
  return {
    location,
    sku: { name: 'Standard_D2ds_v4', tier: 'GeneralPurpose' },
    tags: { 'cmksim-profile': 'instant', ...tags },
    identity: { type: 'UserAssigned', userAssignedIdentities: map },
    administratorLogin: 'pgadmin',
    administratorLoginPassword: 'Sandbox-Passw0rd!',
    version: '16',
    storage: { storageSizeGB: 32 },
    backup: { backupRetentionDays: 7, geoRedundantBackup: geo ? 'Enabled' : 'Disabled' },
    dataEncryption: key === undefined ? undefined : {
      type: 'AzureKeyVault', primaryKeyURI: key, primaryUserAssignedIdentityId: id.id,
      ...(geo ? { geoBackupKeyURI: geo.key, geoBackupUserAssignedIdentityId: geo.id.id } : {}),
    },
    ...extra,
  };
}

const create = (name, body) => pg.servers.beginCreateOrUpdateAndWait(rg, name, body, poll);

test.before(async () => {
  adminOid = JSON.parse(Buffer.from((await cred.getToken('https://vault.azure.net/.default')).token
    .split('.')[1], 'base64url')).oid;
  await rm.resourceGroups.createOrUpdate(rg, { location });
  await identity('id-pg');
  await identity('id-pg2');
  await identity('id-pg-partial');
  await identity('id-pg-geo', pair);
  await identity('id-pg-repl', pair);
  await vault('main', { policies: [[ids['id-pg'], WRAP], [ids['id-pg2'], WRAP],
    [ids['id-pg-partial'], ['get', 'wrapKey']]] });
  await vault('geo', { loc: pair, policies: [[ids['id-pg-geo'], WRAP], [ids['id-pg-repl'], WRAP]] });
  await vault('nopurge', { purgeProtection: false, policies: [[ids['id-pg'], WRAP]] });
  await vault('short', { retention: 7, policies: [[ids['id-pg'], WRAP]] });
  await vault('foreign', { tenantId: OTHER_TENANT });
  const kc = (role) => new KeyClient(`https://${vaults[role]}.vault.azure.net`, cred);
  const main = kc('main');
  const uri = (role, name) => `https://${vaults[role]}.vault.azure.net/keys/${name}`;
  await main.createRsaKey('cmk', { keySize: 2048 });
  await main.createRsaKey('cmk2', { keySize: 2048 });
  await main.createRsaKey('rsa3072', { keySize: 3072 });
  await main.createEcKey('ec', { curve: 'P-256' });
  await main.createRsaKey('disabled', { keySize: 2048, enabled: false });
  await main.createRsaKey('future', { keySize: 2048, notBefore: new Date(Date.now() + 7 * 86400000) });
  const ex = await main.createRsaKey('expired', { keySize: 2048 });
  await main.updateKeyProperties('expired', ex.properties.version, { expiresOn: new Date(Date.now() - 3600000) });
  await kc('geo').createRsaKey('geocmk', { keySize: 2048 });
  await kc('nopurge').createRsaKey('cmk', { keySize: 2048 });
  await kc('short').createRsaKey('cmk', { keySize: 2048 });
  for (const n of ['cmk', 'cmk2', 'rsa3072', 'ec', 'disabled', 'future', 'expired']) keyUri[n] = uri('main', n);
  keyUri.geo = uri('geo', 'geocmk');
  keyUri.nopurge = uri('nopurge', 'cmk');
  keyUri.short = uri('short', 'cmk');
  keyUri.foreign = uri('foreign', 'cmk');
});

// ---- the life of a CMK server --------------------------------------------------------------

const srv = uniqueName('pgcmk');

test('create a CMK server (beginCreateOrUpdateAndWait), get, list', async () => {
  const s = await create(srv, serverBody({ key: keyUri.cmk }));
  assert.equal(s.name, srv);
  assert.equal(s.type, 'Microsoft.DBforPostgreSQL/flexibleServers');
  assert.equal(s.state, 'Ready');
  assert.equal(s.fullyQualifiedDomainName, `${srv}.postgres.database.azure.com`);
  assert.equal(s.dataEncryption.type, 'AzureKeyVault');
  assert.equal(s.dataEncryption.primaryKeyURI, keyUri.cmk);
  assert.equal(s.dataEncryption.primaryUserAssignedIdentityId.toLowerCase(), ids['id-pg'].id.toLowerCase());
  assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Valid');
  assert.equal(s.identity.type, 'UserAssigned');
  assert.ok(Object.keys(s.identity.userAssignedIdentities).some((k) => k.toLowerCase() === ids['id-pg'].id.toLowerCase()));
  assert.equal(s.administratorLoginPassword, undefined, 'the password is never returned');

  const got = await pg.servers.get(rg, srv);
  assert.equal(got.state, 'Ready');
  assert.equal(got.version, '16');
  assert.ok((await all(pg.servers.listByResourceGroup(rg))).some((x) => x.name === srv));
  assert.ok((await all(pg.servers.listBySubscription())).some((x) => x.name === srv));
  await rejects(pg.servers.get(rg, 'pg-absent'), { statusCode: 404, code: 'ResourceNotFound' });
  // server names are DNS names: the same name in another resource group is taken
  await rm.resourceGroups.createOrUpdate('rg-pg2', { location });
  const e = await rejects(pg.servers.beginCreateOrUpdateAndWait('rg-pg2', srv, serverBody({ key: keyUri.cmk }), poll),
    { statusCode: 409, code: 'ServerNameAlreadyExists' });
  assert.match(e.message, new RegExp(`${srv}\\.postgres\\.database\\.azure\\.com`));
});

test('the server\'s key calls are in the vault\'s audit log, as its identity', async () => {
  const mt = (await cred.getToken('https://management.azure.com/.default')).token;
  const r = await c.request('GET', `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${vaults.main}/auditEvents?api-version=2026-02-01`,
    { token: mt });
  assert.equal(r.status, 200);
  const events = r.text.trim().split('\n').map((l) => JSON.parse(l));
  const mine = events.filter((e) => e.identity?.claim?.oid === ids['id-pg'].principalId);
  assert.ok(mine.some((e) => e.operationName === 'KeyWrap' && e.resultType === 'Success'), 'wrapKey as the server identity');
  assert.ok(mine.some((e) => e.operationName === 'KeyUnwrap' && e.resultType === 'Success'), 'unwrapKey as the server identity');
});

test('update the key and the identity (PATCH), then back', async () => {
  const s = await pg.servers.beginUpdateAndWait(rg, srv, {
    identity: { type: 'UserAssigned', userAssignedIdentities: { [ids['id-pg'].id]: {}, [ids['id-pg2'].id]: {} } },
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: keyUri.cmk2, primaryUserAssignedIdentityId: ids['id-pg2'].id },
  }, poll);
  assert.equal(s.dataEncryption.primaryKeyURI, keyUri.cmk2);
  assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Valid');
  assert.equal(s.state, 'Ready');
  const got = await pg.servers.get(rg, srv);
  assert.equal(got.dataEncryption.primaryUserAssignedIdentityId.toLowerCase(), ids['id-pg2'].id.toLowerCase());
  // a key the identity cannot use is refused like at create
  await rejects(pg.servers.beginUpdateAndWait(rg, srv, { dataEncryption: { type: 'AzureKeyVault',
    primaryKeyURI: keyUri.rsa3072, primaryUserAssignedIdentityId: ids['id-pg2'].id } }, poll),
  { statusCode: 400, code: 'AzureKeyVaultUnsupportedKeySize' });
  await pg.servers.beginUpdateAndWait(rg, srv, { dataEncryption: { type: 'AzureKeyVault',
    primaryKeyURI: keyUri.cmk, primaryUserAssignedIdentityId: ids['id-pg'].id } }, poll);
});

test('stop, start, restart; illegal transitions are 409', async () => {
  await pg.servers.beginStopAndWait(rg, srv, poll);
  assert.equal((await pg.servers.get(rg, srv)).state, 'Stopped');
  await rejects(pg.servers.beginStopAndWait(rg, srv, poll), { statusCode: 409 });
  await rejects(pg.servers.beginRestartAndWait(rg, srv, poll), { statusCode: 409 });
  await pg.servers.beginStartAndWait(rg, srv, poll);
  assert.equal((await pg.servers.get(rg, srv)).state, 'Ready');
  await rejects(pg.servers.beginStartAndWait(rg, srv, poll), { statusCode: 409 });
  await pg.servers.beginRestartAndWait(rg, srv, poll);
  assert.equal((await pg.servers.get(rg, srv)).state, 'Ready');
});

// ---- refusals at create: R4-R7, R15 --------------------------------------------------------

test('R4: an identity without get, list, wrapKey, unwrapKey is named with what it lacks', async () => {
  const e = await rejects(create(uniqueName('pgr4'), serverBody({ key: keyUri.cmk, id: ids['id-pg-partial'] })),
    { statusCode: 400, code: 'AzureKeyVaultMissingPermissions' });
  assert.match(e.message, /List/);
  assert.match(e.message, /UnwrapKey/);
  assert.doesNotMatch(e.message, /missing: '[^']*\bGet\b/);
  assert.match(e.message, new RegExp('id-pg-partial'));
  // an identity that is not assigned to the server
  await rejects(create(uniqueName('pgr4'), serverBody({ key: keyUri.cmk, id: ids['id-pg'], identities: [ids['id-pg2']] })),
    { statusCode: 400 });
});

test('R5: a vault in another tenant is refused', async () => {
  const e = await rejects(create(uniqueName('pgr5'), serverBody({ key: keyUri.foreign })),
    { statusCode: 400, code: 'AzureKeyVaultCrossTenantNotSupported' });
  assert.match(e.message, new RegExp(OTHER_TENANT));
});

test('R6: a vault without purge protection or with another retention is refused', async () => {
  let e = await rejects(create(uniqueName('pgr6'), serverBody({ key: keyUri.nopurge })),
    { statusCode: 400, code: 'AzureKeyVaultPurgeProtectionNotEnabled' });
  assert.match(e.message, /purge protection/);
  e = await rejects(create(uniqueName('pgr6'), serverBody({ key: keyUri.short })),
    { statusCode: 400, code: 'AzureKeyVaultInvalidSoftDeleteRetention' });
  assert.match(e.message, /\b7 days\b/);
  assert.match(e.message, /\b90\b/);
});

test('R7: key type, size, disabled, not yet active, expired', async () => {
  const cases = [
    ['rsa3072', 'AzureKeyVaultUnsupportedKeySize', /RSA 3072/],
    ['ec', 'AzureKeyVaultUnsupportedKeyType', /EC/],
    ['disabled', 'AzureKeyVaultKeyDisabled', /disabled/],
    ['future', 'AzureKeyVaultKeyNotYetActive', /activat/],
    ['expired', 'AzureKeyVaultKeyExpired', /expired/],
  ];
  for (const [k, code, msg] of cases) {
    const e = await rejects(create(uniqueName('pgr7'), serverBody({ key: keyUri[k] })), { statusCode: 400, code });
    assert.match(e.message, msg, k);
    assert.ok(e.message.includes(keyUri[k]), `${k}: the message names the key`);
  }
  await rejects(create(uniqueName('pgr7'), serverBody({ key: `https://${vaults.main}.vault.azure.net/keys/absent` })),
    { statusCode: 400, code: 'AzureKeyVaultKeyNotFound' });
  await rejects(create(uniqueName('pgr7'), serverBody({ key: 'https://kv-absent-zz.vault.azure.net/keys/k' })),
    { statusCode: 400, code: 'AzureKeyVaultNotFound' });
});

test('R15: geo-backup key in the paired region with its own identity', async () => {
  let e = await rejects(create(uniqueName('pgr15'), serverBody({ key: keyUri.cmk,
    geo: { key: keyUri.cmk2, id: ids['id-pg-geo'] } })), { statusCode: 400, code: 'CMKGeoBackupKeyNotInPairedRegion' });
  assert.match(e.message, new RegExp(pair));
  e = await rejects(create(uniqueName('pgr15'), serverBody({ key: keyUri.cmk,
    geo: { key: keyUri.geo, id: ids['id-pg'] } })), { statusCode: 400, code: 'CMKGeoBackupIdentitySameAsPrimary' });
  e = await rejects(create(uniqueName('pgr15'), { ...serverBody({ key: keyUri.cmk }),
    backup: { backupRetentionDays: 7, geoRedundantBackup: 'Enabled' } }), { statusCode: 400 });
  assert.match(e.message, /Geo-Backup Encryption user assigned identity and key is required/);
  const ok = await create(uniqueName('pggeo'), serverBody({ key: keyUri.cmk, geo: { key: keyUri.geo, id: ids['id-pg-geo'] } }));
  assert.equal(ok.dataEncryption.geoBackupKeyURI, keyUri.geo);
  assert.equal(ok.dataEncryption.geoBackupEncryptionKeyStatus, 'Valid');
  assert.equal(ok.backup.geoRedundantBackup, 'Enabled');
  geoServer = ok;
});
let geoServer;

// ---- R16: CMK only at creation -------------------------------------------------------------

test('R16: CMK cannot be added to a SystemManaged server nor removed from a CMK server', async () => {
  const plain = uniqueName('pgplain');
  const s = await create(plain, serverBody({ identities: [ids['id-pg']] }));
  assert.equal(s.dataEncryption.type, 'SystemManaged');
  let e = await rejects(pg.servers.beginUpdateAndWait(rg, plain, { dataEncryption: { type: 'AzureKeyVault',
    primaryKeyURI: keyUri.cmk, primaryUserAssignedIdentityId: ids['id-pg'].id } }, poll),
  { statusCode: 400, code: 'CMKCannotBeEnabledOnExistingServer' });
  e = await rejects(pg.servers.beginUpdateAndWait(rg, srv, { dataEncryption: { type: 'SystemManaged' } }, poll),
    { statusCode: 400, code: 'CMKCannotBeDisabled' });
  void e;
  assert.equal((await pg.servers.get(rg, srv)).dataEncryption.type, 'AzureKeyVault');
});

// ---- restore, replica, geo-restore (R13, R15) ----------------------------------------------

test('point-in-time restore of a CMK server is encrypted, with another key if asked', async () => {
  const src = await pg.servers.get(rg, srv);
  const name = uniqueName('pgpitr');
  const body = { location, tags: { 'cmksim-profile': 'instant' }, createMode: 'PointInTimeRestore',
    sourceServerResourceId: src.id, pointInTimeUTC: new Date(),
    identity: { type: 'UserAssigned', userAssignedIdentities: { [ids['id-pg2'].id]: {} } },
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: keyUri.cmk2, primaryUserAssignedIdentityId: ids['id-pg2'].id } };
  const r = await create(name, body);
  assert.equal(r.state, 'Ready');
  assert.equal(r.dataEncryption.type, 'AzureKeyVault');
  assert.equal(r.dataEncryption.primaryKeyURI, keyUri.cmk2);
  assert.equal(r.sourceServerResourceId?.toLowerCase() ?? src.id.toLowerCase(), src.id.toLowerCase());
  // the new key needs its own permissions
  await rejects(create(uniqueName('pgpitr'), { ...body, identity: { type: 'UserAssigned',
    userAssignedIdentities: { [ids['id-pg-partial'].id]: {} } }, dataEncryption: { type: 'AzureKeyVault',
    primaryKeyURI: keyUri.cmk2, primaryUserAssignedIdentityId: ids['id-pg-partial'].id } }),
  { statusCode: 400, code: 'AzureKeyVaultMissingPermissions' });
  await rejects(create(uniqueName('pgpitr'), { ...body, pointInTimeUTC: new Date(Date.now() - 30 * 86400000) }),
    { statusCode: 400, code: 'InvalidRestorePointInTime' });
});

test('replica: its key and identity in the replica\'s region', async () => {
  const src = await pg.servers.get(rg, srv);
  const base = { location: pair, tags: { 'cmksim-profile': 'instant' }, createMode: 'Replica', sourceServerResourceId: src.id };
  const e = await rejects(create(uniqueName('pgrepl'), { ...base,
    identity: { type: 'UserAssigned', userAssignedIdentities: { [ids['id-pg'].id]: {} } },
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: keyUri.cmk, primaryUserAssignedIdentityId: ids['id-pg'].id } }),
  { statusCode: 400 });
  assert.match(e.code, /^CMKReplica(Key|Identity)NotInReplicaRegion$/);
  const r = await create(uniqueName('pgrepl'), { ...base,
    identity: { type: 'UserAssigned', userAssignedIdentities: { [ids['id-pg-repl'].id]: {} } },
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: keyUri.geo, primaryUserAssignedIdentityId: ids['id-pg-repl'].id } });
  assert.equal(r.state, 'Ready');
  assert.equal(r.replicationRole, 'GeoAsyncReplica');
  assert.equal(r.dataEncryption.primaryKeyURI, keyUri.geo);
});

test('geo-restore uses the geo-backup key in the paired region', async () => {
  await rejects(create(uniqueName('pggeor'), { location: pair, tags: { 'cmksim-profile': 'instant' },
    createMode: 'GeoRestore', sourceServerResourceId: (await pg.servers.get(rg, srv)).id }), { statusCode: 400 });
  const r = await create(uniqueName('pggeor'), { location: pair, tags: { 'cmksim-profile': 'instant' },
    createMode: 'GeoRestore', sourceServerResourceId: geoServer.id,
    identity: { type: 'UserAssigned', userAssignedIdentities: { [ids['id-pg-geo'].id]: {} } },
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: keyUri.geo, primaryUserAssignedIdentityId: ids['id-pg-geo'].id } });
  assert.equal(r.state, 'Ready');
  assert.equal(r.location.replace(/\s/g, '').toLowerCase(), pair);
  assert.equal(r.dataEncryption.primaryKeyURI, keyUri.geo);
});

// ---- losing the key and getting it back (R9-R11) --------------------------------------------

test('revoked permission: revalidation turns the server Inaccessible; re-grant brings it back', async () => {
  const name = uniqueName('pgloss');
  await create(name, serverBody({ key: keyUri.cmk, id: ids['id-pg2'], identities: [ids['id-pg2']] }));
  await kvm.vaults.updateAccessPolicy(rg, vaults.main, 'remove', { properties: { accessPolicies: [{
    tenantId: c.tenantId, objectId: ids['id-pg2'].principalId, permissions: { keys: WRAP } }] } });
  const mt = (await cred.getToken('https://management.azure.com/.default')).token;
  const base = `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`;
  let s = await revalidate(name);
  assert.equal(s.state, 'Inaccessible');
  assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Invalid');
  await rejects(pg.servers.beginStartAndWait(rg, name, poll), { statusCode: 409 });
  // R10: resource health shows it after the first denied connection
  const refused = await loginRefused(name);
  assert.ok(refused.message.includes(keyUri.cmk), refused.message);
  const health = await c.request('GET', `${base}/providers/Microsoft.ResourceHealth/availabilityStatuses/current?api-version=2023-10-01-preview`, { token: mt });
  assert.equal(health.status, 200);
  assert.equal(health.body.properties.availabilityState, 'Unavailable');
  await kvm.vaults.updateAccessPolicy(rg, vaults.main, 'add', { properties: { accessPolicies: [{
    tenantId: c.tenantId, objectId: ids['id-pg2'].principalId, permissions: { keys: WRAP } }] } });
  s = await revalidate(name);
  assert.equal(s.state, 'Ready');
  assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Valid');
});

async function revalidate(name) {
  const mt = (await cred.getToken('https://management.azure.com/.default')).token;
  const r = await c.request('POST', `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}/revalidateDataEncryption?api-version=2025-08-01`,
    { token: mt });
  assert.ok([200, 202].includes(r.status), r.text);
  return pg.servers.get(rg, name);
}

test('R8: vault firewall closed with trusted services allowed: the server keeps working, an admin is refused', async () => {
  const fwVault = await vault('fw', { policies: [[ids['id-pg'], WRAP]] });
  const kc = new KeyClient(`https://${fwVault}.vault.azure.net`, cred);
  await kc.createRsaKey('cmk', { keySize: 2048 });
  const name = uniqueName('pgfw');
  await create(name, serverBody({ key: `https://${fwVault}.vault.azure.net/keys/cmk` }));
  await kvm.vaults.update(rg, fwVault, { properties: { publicNetworkAccess: 'Disabled',
    networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices', ipRules: [] } } });
  const e = await rejects(kc.getKey('cmk'), { statusCode: 403, code: 'Forbidden' });
  assert.match(e.message, /not from a trusted service|not authorized and caller is not a trusted service/);
  let s = await revalidate(name);
  assert.equal(s.state, 'Ready', 'a trusted service passes the firewall');
  assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Valid');
  // trusted services no longer allowed: the server loses the key
  await kvm.vaults.update(rg, fwVault, { properties: { publicNetworkAccess: 'Enabled',
    networkAcls: { defaultAction: 'Deny', bypass: 'None', ipRules: [] } } });
  s = await revalidate(name);
  assert.equal(s.state, 'Inaccessible');
  await kvm.vaults.update(rg, fwVault, { properties: { networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices', ipRules: [] } } });
  s = await revalidate(name);
  assert.equal(s.state, 'Ready');
});

test('R9/R11: deleting the identity loses the key; a new grant to a new identity brings it back', async () => {
  const mi = await identity('id-pg-del');
  await kvm.vaults.updateAccessPolicy(rg, vaults.main, 'add', { properties: { accessPolicies: [{
    tenantId: c.tenantId, objectId: mi.principalId, permissions: { keys: WRAP } }] } });
  const name = uniqueName('pgmi');
  await create(name, serverBody({ key: keyUri.cmk, id: mi, identities: [mi] }));
  await msi.userAssignedIdentities.delete(rg, 'id-pg-del');
  let s = await revalidate(name);
  assert.equal(s.state, 'Inaccessible');
  assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Invalid');
  // the same name again is a new principal the vault's policy does not name
  const again = await identity('id-pg-del');
  s = await revalidate(name);
  assert.equal(s.state, 'Inaccessible', 'the old grant names the deleted principal');
  await kvm.vaults.updateAccessPolicy(rg, vaults.main, 'add', { properties: { accessPolicies: [{
    tenantId: c.tenantId, objectId: again.principalId, permissions: { keys: WRAP } }] } });
  s = await revalidate(name);
  assert.equal(s.state, 'Ready');
});

// ---- delete, durability --------------------------------------------------------------------

test('delete (LRO): the server is gone', async () => {
  const name = uniqueName('pgdel');
  await create(name, serverBody({ key: keyUri.cmk }));
  await pg.servers.beginDeleteAndWait(rg, name, poll);
  await rejects(pg.servers.get(rg, name), { statusCode: 404, code: 'ResourceNotFound' });
  assert.ok(!(await all(pg.servers.listByResourceGroup(rg))).some((x) => x.name === name));
});

test('kill -9 during a long-running create: after restart it completes, no half-made server', async () => {
  const name = uniqueName('pgkill');
  const body = serverBody({ key: keyUri.cmk, tags: { 'cmksim-profile': 'default' } });
  const poller = await pg.servers.beginCreateOrUpdate(rg, name, body, poll);
  const during = await pg.servers.get(rg, name);
  assert.equal(during.state, 'Provisioning');
  void poller;
  await c.restartHard();
  const mt = await c.token('https://management.azure.com/.default');
  const adv = await c.request('POST', `${mgmt}/_cmksim/clock/advance`, { token: mt, body: { duration: '10m' } });
  assert.equal(adv.status, 200, adv.text);
  const s = await pg.servers.get(rg, name);
  assert.equal(s.state, 'Ready');
  assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Valid');
  const still = await pg.servers.get(rg, srv);
  assert.equal(still.dataEncryption.primaryKeyURI, keyUri.cmk);
});

void crypto;
