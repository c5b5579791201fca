// keyvault-suite.js: the Key Vault conformance suite (issue 3), run by keyvault.test.js with the
// cloud's host names (https://NAME.vault.azure.net) and by keyvault-local.test.js with the local
// suffix (https://NAME.vault.localhost), both through cmksim's CONNECT proxy. Management with
// @azure/arm-keyvault (and raw ARM requests where the SDK has no client: role assignments),
// keys with @azure/keyvault-keys KeyClient and CryptographyClient, identities with
// @azure/arm-msi and ManagedIdentityCredential: each operation of the issue and each refusal,
// asserting what the SDK hands the caller (error name/code/statusCode, message fragments).
'use strict';
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { ClientSecretCredential, ManagedIdentityCredential } = require('@azure/identity');
const { KeyClient, CryptographyClient } = require('@azure/keyvault-keys');
const { KeyVaultManagementClient } = require('@azure/arm-keyvault');
const { ManagedServiceIdentityClient } = require('@azure/arm-msi');
const { ResourceManagementClient } = require('@azure/arm-resources');
const c = require('./cmksim');
const { adminCredential, uniqueName, rejects, all, mgmt, gated } = require('./azure');

const test = gated('Microsoft.KeyVault', 'vaultsim');

const ROLE = { // built-in role definition ids, as in Azure
  administrator: '00482a5a-887f-4fb3-b363-3b7fe8e74483',
  cryptoOfficer: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
  cryptoServiceEncryptionUser: 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
  cryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424',
  reader: '21090545-7ca7-4776-b22c-e363652d74d2',
};
const ALL_KEY_PERMS = ['get', 'list', 'create', 'update', 'import', 'delete', 'recover', 'purge',
  'backup', 'restore', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'sign', 'verify', 'rotate',
  'getrotationpolicy', 'setrotationpolicy'];
const OTHER_TENANT = '22222222-2222-4222-8222-222222222222';

function run({ suffix }) {
  const cred = adminCredential();
  const kvm = new KeyVaultManagementClient(cred, c.subscriptionId);
  const msi = new ManagedServiceIdentityClient(cred, c.subscriptionId);
  const rm = new ResourceManagementClient(cred, c.subscriptionId);
  const rg = 'rg-kv';
  const location = 'westeurope';
  const poll = { updateIntervalInMs: 50 };
  const vaultUrl = (name) => `https://${name}.${suffix}`;
  const resource = suffix === 'vault.azure.net' ? 'https://vault.azure.net' : `https://${suffix}`;
  const scope = `${resource}/.default`;
  let adminOid;
  let app; // a managed identity of the "application" (wrap/unwrap/get only)
  let appCred;
  const names = { main: uniqueName('kvmain'), plain: uniqueName('kvplain'), rbac: uniqueName('kvrbac'),
    other: uniqueName('kvother'), fw: uniqueName('kvfw'), foreign: uniqueName('kvforeign') };

  function vaultBody(extra = {}) {
    return {
      location,
      properties: {
        tenantId: c.tenantId,
        sku: { family: 'A', name: 'standard' },
        enableSoftDelete: true,
        softDeleteRetentionInDays: 90,
        enablePurgeProtection: true,
        accessPolicies: [{ tenantId: c.tenantId, objectId: adminOid,
          permissions: { keys: ALL_KEY_PERMS } }],
        ...extra,
      },
    };
  }
  const keys = (name, credential = cred) => new KeyClient(vaultUrl(name), credential);

  test.before(async () => {
    adminOid = JSON.parse(Buffer.from((await cred.getToken(scope)).token.split('.')[1],
      'base64url')).oid;
    await rm.resourceGroups.createOrUpdate(rg, { location });
    app = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-kv-app', { location });
    appCred = new ManagedIdentityCredential({ clientId: app.clientId });
  });

  // ---- vault management ----------------------------------------------------------------------

  test('vaults: create (LRO), get, lists', async () => {
    const v = await kvm.vaults.beginCreateOrUpdateAndWait(rg, names.main, vaultBody(), poll);
    assert.equal(v.name, names.main);
    assert.equal(v.type, 'Microsoft.KeyVault/vaults');
    assert.equal(v.id, `/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${names.main}`);
    assert.equal(v.properties.tenantId, c.tenantId);
    assert.equal(v.properties.vaultUri, `https://${names.main}.vault.azure.net/`);
    assert.equal(v.properties.enableSoftDelete, true);
    assert.equal(v.properties.softDeleteRetentionInDays, 90);
    assert.equal(v.properties.enablePurgeProtection, true);
    assert.equal(v.properties.provisioningState, 'Succeeded');
    assert.equal(v.properties.accessPolicies[0].objectId, adminOid);

    const got = await kvm.vaults.get(rg, names.main);
    assert.equal(got.properties.sku.name, 'standard');
    await kvm.vaults.beginCreateOrUpdateAndWait(rg, names.plain, vaultBody({
      enablePurgeProtection: undefined, softDeleteRetentionInDays: 7 }), poll);
    const byRg = (await all(kvm.vaults.listByResourceGroup(rg))).map((x) => x.name).sort();
    assert.deepEqual(byRg, [names.main, names.plain].sort());
    assert.ok((await all(kvm.vaults.listBySubscription())).some((x) => x.name === names.main));
    const tracked = await all(kvm.vaults.list());
    assert.ok(tracked.some((x) => x.id.toLowerCase() === v.id.toLowerCase()));
  });

  test('vaults: 404 and validation refusals', async () => {
    await rejects(kvm.vaults.get(rg, 'kv-absent'), { statusCode: 404, code: 'ResourceNotFound' });
    await rejects(kvm.vaults.get('rg-absent', names.main), { statusCode: 404, code: 'ResourceGroupNotFound' });
    await rejects(kvm.vaults.beginCreateOrUpdateAndWait(rg, uniqueName('kvbad'),
      vaultBody({ softDeleteRetentionInDays: 5 }), poll), { statusCode: 400 });
    await rejects(kvm.vaults.beginCreateOrUpdateAndWait(rg, uniqueName('kvbad'),
      vaultBody({ enableSoftDelete: false }), poll), { statusCode: 400 });
    // a vault name is global: the same name in another resource group is taken
    await rm.resourceGroups.createOrUpdate('rg-kv2', { location });
    await rejects(kvm.vaults.beginCreateOrUpdateAndWait('rg-kv2', names.main, vaultBody(), poll),
      { statusCode: 409 });
    const avail = await kvm.vaults.checkNameAvailability({ name: names.main, type: 'Microsoft.KeyVault/vaults' });
    assert.equal(avail.nameAvailable, false);
    assert.equal(avail.reason, 'AlreadyExists');
    const free = await kvm.vaults.checkNameAvailability({ name: uniqueName('kvfree'), type: 'Microsoft.KeyVault/vaults' });
    assert.equal(free.nameAvailable, true);
  });

  test('vaults: update (PATCH) and what cannot change', async () => {
    const v = await kvm.vaults.update(rg, names.main, { tags: { env: 'test' } });
    assert.equal(v.tags.env, 'test');
    assert.equal(v.properties.enablePurgeProtection, true);
    await rejects(kvm.vaults.update(rg, names.main, { properties: { enablePurgeProtection: false } }),
      { statusCode: 400, message: /purge protection/i });
    await rejects(kvm.vaults.update(rg, names.main, { properties: { softDeleteRetentionInDays: 30 } }),
      { statusCode: 400 });
    await rejects(kvm.vaults.update(rg, names.main, { properties: { enableSoftDelete: false } }),
      { statusCode: 400 });
  });

  test('access policies: add, replace, remove (updateAccessPolicy)', async () => {
    const add = await kvm.vaults.updateAccessPolicy(rg, names.main, 'add', { properties: {
      accessPolicies: [{ tenantId: c.tenantId, objectId: app.principalId,
        permissions: { keys: ['get', 'wrapKey'] } }] } });
    assert.ok(add.properties.accessPolicies.some((p) => p.objectId === app.principalId));
    // add merges permissions into the entry of the same object
    await kvm.vaults.updateAccessPolicy(rg, names.main, 'add', { properties: {
      accessPolicies: [{ tenantId: c.tenantId, objectId: app.principalId,
        permissions: { keys: ['unwrapKey'] } }] } });
    let v = await kvm.vaults.get(rg, names.main);
    let p = v.properties.accessPolicies.find((x) => x.objectId === app.principalId);
    assert.deepEqual([...p.permissions.keys].map((s) => s.toLowerCase()).sort(), ['get', 'unwrapkey', 'wrapkey']);
    // replace
    await kvm.vaults.updateAccessPolicy(rg, names.main, 'replace', { properties: {
      accessPolicies: [{ tenantId: c.tenantId, objectId: app.principalId,
        permissions: { keys: ['get', 'wrapKey', 'unwrapKey', 'list'] } }] } });
    v = await kvm.vaults.get(rg, names.main);
    p = v.properties.accessPolicies.find((x) => x.objectId === app.principalId);
    assert.equal(p.permissions.keys.length, 4);
    // remove the list permission only
    await kvm.vaults.updateAccessPolicy(rg, names.main, 'remove', { properties: {
      accessPolicies: [{ tenantId: c.tenantId, objectId: app.principalId,
        permissions: { keys: ['list'] } }] } });
    v = await kvm.vaults.get(rg, names.main);
    p = v.properties.accessPolicies.find((x) => x.objectId === app.principalId);
    assert.ok(!p.permissions.keys.map((s) => s.toLowerCase()).includes('list'));
    assert.equal(p.permissions.keys.length, 3);
  });

  // ---- keys ----------------------------------------------------------------------------------

  const made = {};

  test('keys: createRsaKey 2048/3072/4096, createEcKey, createKey with attributes and tags', async () => {
    const kc = keys(names.main);
    for (const size of [2048, 3072, 4096]) {
      const k = await kc.createRsaKey(`rsa${size}`, { keySize: size });
      assert.equal(k.keyType, 'RSA');
      assert.equal(k.key.n.length * 8, size, `modulus of rsa${size}`);
      assert.deepEqual([...k.key.e], [1, 0, 1]);
      assert.equal(k.key.d, undefined, 'no private part');
      assert.equal(k.id, `${vaultUrl(names.main)}/keys/rsa${size}/${k.properties.version}`);
      assert.equal(k.properties.enabled, true);
      assert.equal(k.properties.recoveryLevel, 'Recoverable');
      made[`rsa${size}`] = k;
    }
    const ec = await kc.createEcKey('ec256', { curve: 'P-256' });
    assert.equal(ec.keyType, 'EC');
    assert.equal(ec.key.crv, 'P-256');
    assert.equal(ec.key.x.length, 32);
    made.ec256 = ec;
    const exp = new Date(Date.now() + 365 * 24 * 3600 * 1000);
    exp.setMilliseconds(0);
    const t = await kc.createRsaKey('tagged', { keySize: 2048, tags: { app: 'orders' }, expiresOn: exp,
      keyOps: ['wrapKey', 'unwrapKey'] });
    assert.equal(t.properties.tags.app, 'orders');
    assert.equal(t.properties.expiresOn.getTime(), exp.getTime());
    assert.deepEqual(t.keyOperations, ['wrapKey', 'unwrapKey']);
    await rejects(kc.createRsaKey('rsa1024', { keySize: 1024 }), { statusCode: 400 });
  });

  test('keys: get (latest and version), list, versions', async () => {
    const kc = keys(names.main);
    const v2 = await kc.createRsaKey('rsa2048', { keySize: 2048 });
    assert.notEqual(v2.properties.version, made.rsa2048.properties.version);
    assert.equal((await kc.getKey('rsa2048')).properties.version, v2.properties.version);
    const old = await kc.getKey('rsa2048', { version: made.rsa2048.properties.version });
    assert.deepEqual(old.key.n, made.rsa2048.key.n);
    const versions = await all(kc.listPropertiesOfKeyVersions('rsa2048'));
    assert.deepEqual(versions.map((x) => x.version).sort(),
      [made.rsa2048.properties.version, v2.properties.version].sort());
    const listed = (await all(kc.listPropertiesOfKeys())).map((x) => x.name).sort();
    for (const n of ['ec256', 'rsa2048', 'rsa3072', 'rsa4096', 'tagged']) assert.ok(listed.includes(n), n);
    const e = await rejects(kc.getKey('absent'), { statusCode: 404, code: 'KeyNotFound' });
    assert.match(e.message, /absent/);
    made.rsa2048 = v2;
  });

  test('keys: paged lists follow nextLink', async () => {
    const kc = keys(names.main);
    const pages = [];
    for await (const page of kc.listPropertiesOfKeys().byPage({ maxPageSize: 2 })) pages.push(page);
    assert.ok(pages.length >= 3, `${pages.length} pages`);
    assert.ok(pages.slice(0, -1).every((pg) => pg.length === 2));
    const flat = pages.flat().map((x) => x.name);
    assert.equal(new Set(flat).size, flat.length, 'no key twice');
    assert.deepEqual(flat.sort(), (await all(kc.listPropertiesOfKeys())).map((x) => x.name).sort());
  });

  test('api-versions 7.0 to 7.6 and 2025-07-01; a versionless crypto path is the latest version', async () => {
    const token = (await cred.getToken(scope)).token;
    for (const v of ['7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01']) {
      const r = await c.request('GET', `${vaultUrl(names.main)}/keys/rsa2048?api-version=${v}`, { token });
      assert.equal(r.status, 200, `api-version ${v}: ${r.text}`);
      assert.equal(r.body.key.kid, made.rsa2048.id);
    }
    const bad = await c.request('GET', `${vaultUrl(names.main)}/keys/rsa2048?api-version=1999-01-01`, { token });
    assert.equal(bad.status, 400);
    const w = await c.request('POST', `${vaultUrl(names.main)}/keys/rsa2048//wrapkey?api-version=7.5`, { token,
      body: { alg: 'RSA-OAEP-256', value: Buffer.alloc(32, 9).toString('base64url') } });
    assert.equal(w.status, 200, w.text);
    assert.equal(w.body.kid, made.rsa2048.id, 'the latest version wrapped');
    const u = await c.request('POST', `${made.rsa2048.id}/unwrapkey?api-version=7.5`, { token,
      body: { alg: 'RSA-OAEP-256', value: w.body.value } });
    assert.deepEqual(Buffer.from(u.body.value, 'base64url'), Buffer.alloc(32, 9));
  });

  test('crypto: wrap/unwrap RSA-OAEP, RSA-OAEP-256, RSA1_5; encrypt/decrypt; sign/verify', async () => {
    const cc = new CryptographyClient(made.rsa2048.id, cred);
    const dek = crypto.randomBytes(32);
    for (const alg of ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5']) {
      const w = await cc.wrapKey(alg, dek);
      assert.equal(w.result.length, 256, alg);
      const u = await cc.unwrapKey(alg, w.result);
      assert.deepEqual(Buffer.from(u.result), dek, alg);
    }
    // a DEK wrapped elsewhere with the public key (OAEP, SHA-256) opens in the vault
    const pub = crypto.createPublicKey({ key: { kty: 'RSA', n: Buffer.from(made.rsa2048.key.n).toString('base64url'),
      e: Buffer.from(made.rsa2048.key.e).toString('base64url') }, format: 'jwk' });
    const local = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256' }, dek);
    assert.deepEqual(Buffer.from((await cc.unwrapKey('RSA-OAEP-256', local)).result), dek);

    const enc = await cc.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from('hello') });
    assert.equal(Buffer.from((await cc.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: enc.result })).result).toString(), 'hello');

    const digest = crypto.createHash('sha256').update('data').digest();
    for (const alg of ['RS256', 'PS256']) {
      const s = await cc.sign(alg, digest);
      assert.equal((await cc.verify(alg, digest, s.result)).result, true, alg);
      const ok = crypto.verify('sha256', Buffer.from('data'), alg === 'PS256'
        ? { key: pub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : pub, Buffer.from(s.result));
      assert.equal(ok, true, `${alg} signature verifies with the public key`);
      assert.equal((await cc.verify(alg, crypto.createHash('sha256').update('other').digest(), s.result)).result, false);
    }
    const ecc = new CryptographyClient(made.ec256.id, cred);
    const es = await ecc.sign('ES256', digest);
    assert.equal(es.result.length, 64);
    assert.equal((await ecc.verify('ES256', digest, es.result)).result, true);
    for (const size of [3072, 4096]) {
      const k = new CryptographyClient(made[`rsa${size}`].id, cred);
      const w = await k.wrapKey('RSA-OAEP', dek);
      assert.equal(w.result.length, size / 8);
      assert.deepEqual(Buffer.from((await k.unwrapKey('RSA-OAEP', w.result)).result), dek);
    }
  });

  test('getRandomBytes', async () => {
    const b = await keys(names.main).getRandomBytes(32);
    assert.equal(b.length, 32);
    assert.notDeepEqual(Buffer.from(b), Buffer.alloc(32));
  });

  test('updateKeyProperties: disabled key refuses crypto (KeyDisabled)', async () => {
    const kc = keys(names.main);
    const k = await kc.createRsaKey('todisable', { keySize: 2048 });
    const cc = new CryptographyClient(k.id, cred);
    const w = await cc.wrapKey('RSA-OAEP-256', Buffer.alloc(32, 1));
    const upd = await kc.updateKeyProperties('todisable', k.properties.version, { enabled: false });
    assert.equal(upd.properties.enabled, false);
    const e = await rejects(cc.unwrapKey('RSA-OAEP-256', w.result), { statusCode: 403, code: 'Forbidden' });
    assert.match(e.message, /not allowed on a disabled key/);
    await kc.updateKeyProperties('todisable', k.properties.version, { enabled: true });
    assert.deepEqual(Buffer.from((await cc.unwrapKey('RSA-OAEP-256', w.result)).result), Buffer.alloc(32, 1));
  });

  test('updateKeyProperties: expired key refuses to protect new data (KeyExpired)', async () => {
    const kc = keys(names.main);
    const k = await kc.createRsaKey('toexpire', { keySize: 2048 });
    const cc = new CryptographyClient(k.id, cred);
    await cc.wrapKey('RSA-OAEP-256', Buffer.alloc(32, 2)); // the client now holds the key, unexpired
    const past = new Date(Date.now() - 3600 * 1000);
    const upd = await kc.updateKeyProperties('toexpire', k.properties.version, { expiresOn: past });
    assert.ok(upd.properties.expiresOn < new Date());
    const e = await rejects(cc.wrapKey('RSA-OAEP-256', Buffer.alloc(32, 2)), { statusCode: 403, code: 'Forbidden' });
    assert.match(e.message, /expired/);
    // a client that reads the key first refuses on its own, as against the cloud
    const fresh = new CryptographyClient(k.id, cred);
    await rejects(fresh.wrapKey('RSA-OAEP-256', Buffer.alloc(32, 2)), { message: /expired at/ });
  });

  test('key soft-delete: delete, getDeleted, listDeleted, name conflict, purge refused, recover', async () => {
    const kc = keys(names.main);
    const k = await kc.createRsaKey('softdel', { keySize: 2048 });
    const poller = await kc.beginDeleteKey('softdel', { intervalInMs: 50 });
    const del = await poller.pollUntilDone();
    assert.equal(del.name, 'softdel');
    assert.equal(del.properties.recoveryId, `${vaultUrl(names.main)}/deletedkeys/softdel`);
    assert.ok(del.properties.deletedOn instanceof Date);
    const days = (del.properties.scheduledPurgeDate - del.properties.deletedOn) / 86400000;
    assert.equal(Math.round(days), 90);
    assert.equal((await kc.getDeletedKey('softdel')).key.kid, k.id);
    assert.ok((await all(kc.listDeletedKeys())).some((x) => x.name === 'softdel'));
    await rejects(kc.getKey('softdel'), { statusCode: 404, code: 'KeyNotFound' });
    await rejects(new CryptographyClient(k.id, cred).unwrapKey('RSA-OAEP', Buffer.alloc(256)), { statusCode: 404 });
    const conflict = await rejects(kc.createRsaKey('softdel', { keySize: 2048 }), { statusCode: 409, code: 'Conflict' });
    assert.match(conflict.message, /deleted but recoverable state/);
    const purge = await rejects(kc.purgeDeletedKey('softdel'), { statusCode: 403, code: 'Forbidden' });
    assert.match(purge.message, /purge protection is enabled/);
    const rp = await kc.beginRecoverDeletedKey('softdel', { intervalInMs: 50 });
    const rec = await rp.pollUntilDone();
    assert.equal(rec.id, k.id);
    assert.equal((await kc.getKey('softdel')).properties.version, k.properties.version);
    await rejects(kc.getDeletedKey('softdel'), { statusCode: 404, code: 'KeyNotFound', message: /Deleted Key not found/ });
  });

  test('key purge in a vault without purge protection', async () => {
    const kc = keys(names.plain);
    await kc.createRsaKey('gone', { keySize: 2048 });
    await (await kc.beginDeleteKey('gone', { intervalInMs: 50 })).pollUntilDone();
    await kc.purgeDeletedKey('gone');
    await rejects(kc.getDeletedKey('gone'), { statusCode: 404 });
    const again = await kc.createRsaKey('gone', { keySize: 2048 });
    assert.equal(again.name, 'gone', 'a purged name can be reused');
  });

  test('backupKey / restoreKeyBackup', async () => {
    const kc = keys(names.main);
    const blob = await kc.backupKey('rsa3072');
    assert.ok(blob.length > 100);
    await rejects(kc.restoreKeyBackup(blob), { statusCode: 409 });
    await kvm.vaults.beginCreateOrUpdateAndWait(rg, names.other, vaultBody(), poll);
    const other = keys(names.other);
    const r = await other.restoreKeyBackup(blob);
    assert.equal(r.name, 'rsa3072');
    assert.equal(r.id, `${vaultUrl(names.other)}/keys/rsa3072/${made.rsa3072.properties.version}`);
    const w = await new CryptographyClient(made.rsa3072.id, cred).wrapKey('RSA-OAEP-256', Buffer.alloc(32, 3));
    const u = await new CryptographyClient(r.id, cred).unwrapKey('RSA-OAEP-256', w.result);
    assert.deepEqual(Buffer.from(u.result), Buffer.alloc(32, 3), 'the restored key is the same key');
    await rejects(other.restoreKeyBackup(Buffer.from('not a backup')), { statusCode: 400 });
  });

  test('importKey (JWK)', async () => {
    const kc = keys(names.main);
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const j = privateKey.export({ format: 'jwk' });
    const b = (s) => Buffer.from(s, 'base64url');
    const imported = await kc.importKey('imported', { kty: 'RSA', n: b(j.n), e: b(j.e), d: b(j.d),
      p: b(j.p), q: b(j.q), dp: b(j.dp), dq: b(j.dq), qi: b(j.qi),
      keyOps: ['wrapKey', 'unwrapKey', 'sign', 'verify'] });
    assert.equal(imported.keyType, 'RSA');
    assert.deepEqual(Buffer.from(imported.key.n), b(j.n));
    assert.equal(imported.key.d, undefined, 'the private part is not returned');
    const wrapped = crypto.publicEncrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, Buffer.alloc(32, 4));
    const u = await new CryptographyClient(imported.id, cred).unwrapKey('RSA-OAEP', wrapped);
    assert.deepEqual(Buffer.from(u.result), Buffer.alloc(32, 4));
    await rejects(kc.importKey('badimport', { kty: 'RSA', n: b(j.n) }), { statusCode: 400 });
  });

  test('rotateKey and the rotation policy', async () => {
    const kc = keys(names.main);
    const before = await kc.createRsaKey('rotating', { keySize: 2048, tags: { t: 'r' } });
    const rotated = await kc.rotateKey('rotating');
    assert.notEqual(rotated.properties.version, before.properties.version);
    assert.equal(rotated.key.n.length, 256, 'same key size');
    assert.equal(rotated.properties.tags?.t, 'r', 'same tags');
    assert.equal((await kc.getKey('rotating')).properties.version, rotated.properties.version);
    assert.equal((await all(kc.listPropertiesOfKeyVersions('rotating'))).length, 2);
    const policy = await kc.updateKeyRotationPolicy('rotating', {
      lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P90D' }, { action: 'Notify', timeBeforeExpiry: 'P30D' }],
      expiresIn: 'P1Y' });
    assert.equal(policy.expiresIn, 'P1Y');
    const got = await kc.getKeyRotationPolicy('rotating');
    assert.equal(got.expiresIn, 'P1Y');
    const rot = got.lifetimeActions.find((a) => a.action === 'Rotate');
    assert.equal(rot.timeAfterCreate, 'P90D');
    assert.ok(got.id.startsWith(`${vaultUrl(names.main)}/keys/rotating/rotationpolicy`), got.id);
    await rejects(kc.rotateKey('absent'), { statusCode: 404, code: 'KeyNotFound' });
  });

  // ---- refusals ------------------------------------------------------------------------------

  test('no token: 401 with the challenge the SDKs need', async () => {
    const r = await c.request('GET', `${vaultUrl(names.main)}/keys?api-version=7.5`);
    assert.equal(r.status, 401);
    const h = r.headers['www-authenticate'];
    assert.match(h, /^Bearer authorization="https:\/\/login\.[^/]+\/11111111-1111-1111-1111-111111111111", resource="https:\/\/vault\./);
    assert.ok(h.includes(`resource="${resource}"`), h);
    const bad = await c.request('GET', `${vaultUrl(names.main)}/keys?api-version=7.5`,
      { token: await c.token('https://management.azure.com/.default') });
    assert.equal(bad.status, 401, 'a token for another audience');
  });

  test('missing permission: ForbiddenByPolicy naming the permission', async () => {
    // the app identity has get, wrapKey, unwrapKey only
    const kc = keys(names.main, appCred);
    const e = await rejects(kc.createRsaKey('byapp', { keySize: 2048 }), { statusCode: 403, code: 'Forbidden' });
    assert.match(e.message, /does not have keys create permission on key vault/);
    assert.match(e.message, new RegExp(`oid=${app.principalId}`));
    assert.equal(e.details?.error?.innererror?.code ?? e.details?.error?.innerError?.code, 'ForbiddenByPolicy');
    // the paging helper of the SDK reports a refused page by its status
    await rejects(all(kc.listPropertiesOfKeys()), { statusCode: 403, message: /Pagination failed with unexpected statusCode 403/ });
    // what it may do works
    const cc = new CryptographyClient(made.rsa2048.id, appCred);
    const w = await cc.wrapKey('RSA-OAEP-256', Buffer.alloc(32, 5));
    assert.deepEqual(Buffer.from((await cc.unwrapKey('RSA-OAEP-256', w.result)).result), Buffer.alloc(32, 5));
    await rejects(cc.sign('RS256', Buffer.alloc(32)), { statusCode: 403, message: /keys sign permission/ });
  });

  test('audit log: allowed and refused requests, who and what', async () => {
    const mt = (await cred.getToken('https://management.azure.com/.default')).token;
    const r = await c.request('GET', `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${names.main}/auditEvents?api-version=2026-02-01`,
      { token: mt });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-type'], /ndjson/);
    const events = r.text.trim().split('\n').map((l) => JSON.parse(l));
    const refused = events.find((e) => e.operationName === 'KeyCreate' && e.properties.httpStatusCode === 403
      && e.identity.claim.oid === app.principalId);
    assert.ok(refused, 'the refused create by the app identity is audited');
    assert.equal(refused.resultType, 'Failure');
    assert.equal(refused.properties.innerErrorCode ?? refused.properties.errorCode, 'ForbiddenByPolicy');
    const unwrap = events.find((e) => e.operationName === 'KeyUnwrap' && e.identity.claim.oid === app.principalId
      && e.properties.httpStatusCode === 200);
    assert.ok(unwrap, 'the allowed unwrap by the app identity is audited');
    assert.match(unwrap.properties.id, new RegExp(`/keys/rsa2048/`));
    assert.ok(events.every((e, i) => i === 0 || e.seq > events[i - 1].seq), 'in order');
    const noToken = await c.request('GET', `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${names.main}/auditEvents?api-version=2026-02-01`);
    assert.equal(noToken.status, 401);
  });

  test('wrong tenant: a vault of another tenant', async () => {
    await kvm.vaults.beginCreateOrUpdateAndWait(rg, names.foreign, vaultBody({ tenantId: OTHER_TENANT,
      accessPolicies: [] }), poll);
    // the SDK follows the challenge to the vault's tenant; the credential is not allowed there
    const e = await rejects(keys(names.foreign).getKey('k'), { name: 'CredentialUnavailableError' });
    assert.match(e.message, new RegExp(OTHER_TENANT));
    // with any tenant allowed, login refuses the unknown tenant
    const anyTenant = new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret,
      { additionallyAllowedTenants: ['*'] });
    await rejects(keys(names.foreign, anyTenant).getKey('k'), { message: /AADSTS90002/ });
    // a token of our tenant presented directly
    const r = await c.request('GET', `${vaultUrl(names.foreign)}/keys/k?api-version=7.5`,
      { token: await c.token(scope) });
    assert.equal(r.status, 401);
    assert.match(r.body.error.message, /AKV10032/);
    assert.match(r.headers['www-authenticate'], new RegExp(OTHER_TENANT));
  });

  test('firewall: ForbiddenByFirewall, then an IP rule, then trusted services', async () => {
    await kvm.vaults.beginCreateOrUpdateAndWait(rg, names.fw, vaultBody(), poll);
    const kc = keys(names.fw);
    await kc.createRsaKey('fwkey', { keySize: 2048 });
    await kvm.vaults.update(rg, names.fw, { properties: { networkAcls: { defaultAction: 'Deny', bypass: 'None', ipRules: [] } } });
    const e = await rejects(kc.getKey('fwkey'), { statusCode: 403, code: 'Forbidden' });
    assert.match(e.message, /Client address is not authorized and caller is not a trusted service/);
    assert.equal(e.details?.error?.innererror?.code ?? e.details?.error?.innerError?.code, 'ForbiddenByFirewall');
    await kvm.vaults.update(rg, names.fw, { properties: { networkAcls: { defaultAction: 'Deny', bypass: 'None',
      ipRules: [{ value: '127.0.0.1' }] } } });
    assert.equal((await kc.getKey('fwkey')).name, 'fwkey', 'allowed by the IP rule');
    await kvm.vaults.update(rg, names.fw, { properties: { publicNetworkAccess: 'Disabled' } });
    await rejects(kc.getKey('fwkey'), { statusCode: 403,
      message: /Public network access is disabled and request is not from a trusted service nor via an approved private link/ });
    await kvm.vaults.update(rg, names.fw, { properties: { publicNetworkAccess: 'Enabled',
      networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices', ipRules: [] } } });
    assert.equal((await kc.getKey('fwkey')).name, 'fwkey');
  });

  test('throttling: 429 with Retry-After, and the SDK retries after it', async () => {
    await kvm.vaults.update(rg, names.fw, { tags: { 'cmksim-throttle': '3/3s' } });
    const token = (await cred.getToken(scope)).token;
    // eight at once against a burst of three: some must wait
    const answers = await Promise.all(Array.from({ length: 8 }, () =>
      c.request('GET', `${vaultUrl(names.fw)}/keys/fwkey?api-version=7.5`, { token })));
    const statuses = answers.map((r) => r.status);
    let retryAfter;
    for (const r of answers.filter((x) => x.status === 429)) {
      retryAfter = Number(r.headers['retry-after']);
      assert.equal(r.body.error.code, 'Throttled');
    }
    assert.ok(statuses.includes(429), `statuses ${statuses}`);
    assert.ok(retryAfter >= 1 && retryAfter <= 3, `Retry-After ${retryAfter}`);
    const t0 = Date.now();
    assert.equal((await keys(names.fw).getKey('fwkey')).name, 'fwkey', 'the SDK waits and retries');
    assert.ok(Date.now() - t0 < 20000);
    await kvm.vaults.update(rg, names.fw, { tags: {} });
  });

  test('deleted identity: its vault token is refused', async () => {
    const gone = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-kv-gone', { location });
    await kvm.vaults.updateAccessPolicy(rg, names.main, 'add', { properties: { accessPolicies: [{
      tenantId: c.tenantId, objectId: gone.principalId, permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] } }] } });
    const goneCred = new ManagedIdentityCredential({ clientId: gone.clientId });
    const cc = new CryptographyClient(made.rsa2048.id, goneCred);
    const w = await cc.wrapKey('RSA-OAEP-256', Buffer.alloc(32, 6));
    await msi.userAssignedIdentities.delete(rg, 'id-kv-gone');
    await rejects(cc.unwrapKey('RSA-OAEP-256', w.result), { statusCode: 401 });
  });

  test('RBAC vault: ForbiddenByRbac, role assignments grant and revoke', async () => {
    const v = await kvm.vaults.beginCreateOrUpdateAndWait(rg, names.rbac, vaultBody({
      enableRbacAuthorization: true, accessPolicies: [] }), poll);
    assert.equal(v.properties.enableRbacAuthorization, true);
    const kc = keys(names.rbac);
    const e = await rejects(kc.createRsaKey('rk', { keySize: 2048 }), { statusCode: 403, code: 'Forbidden' });
    assert.match(e.message, /Caller is not authorized to perform action on resource/);
    assert.match(e.message, /Microsoft\.KeyVault\/vaults\/keys\/create\/action/);
    assert.equal(e.details?.error?.innererror?.code ?? e.details?.error?.innerError?.code, 'ForbiddenByRbac');

    const mt = (await cred.getToken('https://management.azure.com/.default')).token;
    const assign = async (scopeId, role, principalId) => {
      const id = crypto.randomUUID();
      const r = await c.request('PUT', `${mgmt}${scopeId}/providers/Microsoft.Authorization/roleAssignments/${id}?api-version=2022-04-01`,
        { token: mt, body: { properties: { roleDefinitionId: `/subscriptions/${c.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
          principalId, principalType: 'ServicePrincipal' } } });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.body.properties.principalId, principalId);
      return `${scopeId}/providers/Microsoft.Authorization/roleAssignments/${id}`;
    };
    const officer = await assign(v.id, ROLE.cryptoOfficer, adminOid);
    const k = await kc.createRsaKey('rk', { keySize: 2048 });
    // the app gets Crypto Service Encryption User on this key only
    await assign(`${v.id}/keys/rk`, ROLE.cryptoServiceEncryptionUser, app.principalId);
    const cc = new CryptographyClient(k.id, appCred);
    const w = await cc.wrapKey('RSA-OAEP-256', Buffer.alloc(32, 7));
    assert.deepEqual(Buffer.from((await cc.unwrapKey('RSA-OAEP-256', w.result)).result), Buffer.alloc(32, 7));
    await rejects(cc.sign('RS256', Buffer.alloc(32)), { statusCode: 403, message: /ForbiddenByRbac|not authorized/ });
    const list = await c.request('GET', `${mgmt}${v.id}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`, { token: mt });
    assert.equal(list.status, 200);
    assert.ok(list.body.value.some((a) => a.id === officer));
    // revoke the officer role: create is refused again
    const d = await c.request('DELETE', `${mgmt}${officer}?api-version=2022-04-01`, { token: mt });
    assert.equal(d.status, 200);
    await rejects(kc.createRsaKey('rk2', { keySize: 2048 }), { statusCode: 403, code: 'Forbidden' });
    // Key Vault Reader reads key metadata (vaults/*/read) but cannot use keys
    await assign(v.id, ROLE.reader, adminOid);
    assert.equal((await kc.getKey('rk')).name, 'rk');
    await rejects(new CryptographyClient(k.id, cred).wrapKey('RSA-OAEP-256', Buffer.alloc(32)),
      { statusCode: 403, message: /Microsoft\.KeyVault\/vaults\/keys\/wrap\/action/ });
  });

  // ---- vault soft-delete ---------------------------------------------------------------------

  test('vault delete, getDeleted, listDeleted, name conflict, purge refused, recover', async () => {
    await kvm.vaults.delete(rg, names.main);
    await rejects(kvm.vaults.get(rg, names.main), { statusCode: 404 });
    const d = await kvm.vaults.getDeleted(names.main, location);
    assert.equal(d.name, names.main);
    assert.equal(d.properties.vaultId, `/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${names.main}`);
    assert.equal(d.properties.purgeProtectionEnabled, true);
    assert.equal(Math.round((d.properties.scheduledPurgeDate - d.properties.deletionDate) / 86400000), 90);
    assert.ok((await all(kvm.vaults.listDeleted())).some((x) => x.name === names.main));
    // the keys of a deleted vault are out of reach
    await rejects(keys(names.main).getKey('rsa2048'), { statusCode: 404 });
    // its name cannot be reused
    const conflict = await rejects(kvm.vaults.beginCreateOrUpdateAndWait(rg, names.main, vaultBody(), poll),
      { statusCode: 409, code: 'ConflictError' });
    assert.match(conflict.message, /Exist soft deleted vault with the same name/);
    // purge protection: no purge
    await rejects(kvm.vaults.beginPurgeDeletedAndWait(names.main, location, poll),
      { statusCode: 409, message: /Operation 'DeletedVaultPurge' is not allowed/ });
    // recover
    const v = await kvm.vaults.beginCreateOrUpdateAndWait(rg, names.main, { location,
      properties: { tenantId: c.tenantId, sku: { family: 'A', name: 'standard' }, createMode: 'recover' } }, poll);
    assert.equal(v.properties.enablePurgeProtection, true);
    assert.ok(v.properties.accessPolicies.some((p) => p.objectId === adminOid), 'policies come back');
    assert.equal((await keys(names.main).getKey('rsa2048')).properties.version, made.rsa2048.properties.version);
    await rejects(kvm.vaults.getDeleted(names.main, location), { statusCode: 404 });
  });

  test('vault purge without purge protection frees the name', async () => {
    await kvm.vaults.delete(rg, names.plain);
    assert.equal((await kvm.vaults.getDeleted(names.plain, location)).properties.purgeProtectionEnabled ?? false, false);
    await kvm.vaults.beginPurgeDeletedAndWait(names.plain, location, poll);
    await rejects(kvm.vaults.getDeleted(names.plain, location), { statusCode: 404 });
    assert.ok(!(await all(kvm.vaults.listDeleted())).some((x) => x.name === names.plain));
    const again = await kvm.vaults.beginCreateOrUpdateAndWait(rg, names.plain, vaultBody(), poll);
    assert.equal(again.name, names.plain);
    await rejects(keys(names.plain).getKey('gone'), { statusCode: 404, code: 'KeyNotFound' });
  });

  // ---- durability ----------------------------------------------------------------------------

  test('kill -9 and restart: every acknowledged vault, key, version, policy is there', async () => {
    const kc = keys(names.main);
    const k = await kc.createRsaKey('durable', { keySize: 2048 });
    await kc.updateKeyProperties('durable', k.properties.version, { tags: { keep: 'yes' } });
    await kvm.vaults.updateAccessPolicy(rg, names.main, 'add', { properties: { accessPolicies: [{
      tenantId: c.tenantId, objectId: '77777777-7777-4777-8777-777777777777', permissions: { keys: ['get'] } }] } });
    await kc.updateKeyRotationPolicy('durable', { lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P30D' }], expiresIn: 'P60D' });
    await (await kc.beginDeleteKey('tagged', { intervalInMs: 50 })).pollUntilDone();
    const w = await new CryptographyClient(k.id, cred).wrapKey('RSA-OAEP-256', Buffer.alloc(32, 8));
    const versionsBefore = (await all(kc.listPropertiesOfKeyVersions('rsa2048'))).length;

    await c.restartHard();

    const v = await kvm.vaults.get(rg, names.main);
    assert.ok(v.properties.accessPolicies.some((p) => p.objectId === '77777777-7777-4777-8777-777777777777'));
    const kc2 = keys(names.main, adminCredential());
    const got = await kc2.getKey('durable');
    assert.equal(got.properties.version, k.properties.version);
    assert.equal(got.properties.tags.keep, 'yes');
    assert.equal((await kc2.getKeyRotationPolicy('durable')).expiresIn, 'P60D');
    assert.equal((await all(kc2.listPropertiesOfKeyVersions('rsa2048'))).length, versionsBefore);
    assert.ok((await all(kc2.listDeletedKeys())).some((x) => x.name === 'tagged'));
    assert.ok((await all(kvm.vaults.listByResourceGroup(rg))).some((x) => x.name === names.rbac));
    const u = await new CryptographyClient(k.id, adminCredential()).unwrapKey('RSA-OAEP-256', w.result);
    assert.deepEqual(Buffer.from(u.result), Buffer.alloc(32, 8), 'the same key material after restart');
    assert.equal((await keys(names.other).getKey('rsa3072')).name, 'rsa3072');
  });
}

module.exports = { run };
