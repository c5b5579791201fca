// hsm-cmk.test.js: what hsm.test.js leaves out of issue 4, with the same real clients: the HSM
// key types besides RSA-HSM (EC-HSM, oct-HSM with AES key wrap), a role assigned at one key's
// scope for a managed identity, purge protection that a PATCH cannot turn off, a deleted HSM's
// name that cannot be reused, and rule R14: a CMK PostgreSQL server whose key lives in the
// Managed HSM, created and refused exactly as with a vault key (only the key URI differs).
'use strict';
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { ManagedIdentityCredential } = require('@azure/identity');
const { KeyClient, CryptographyClient } = require('@azure/keyvault-keys');
const { KeyVaultManagementClient } = require('@azure/arm-keyvault');
const { ManagedServiceIdentityClient } = require('@azure/arm-msi');
const { ResourceManagementClient } = require('@azure/arm-resources');
const { PostgreSQLManagementFlexibleServerClient } = require('@azure/arm-postgresql-flexible');
const c = require('./lib/cmksim');
const { adminCredential, uniqueName, rejects, all, gated, providerWired } = require('./lib/azure');

const test = gated('Microsoft.KeyVault/managedHSMs', 'hsmsim');
const ROLE = { // Managed HSM local RBAC built-in role ids, as in Azure
  cryptoOfficer: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
  cryptoUser: '21dbd100-6940-42c2-9190-5d6cb909625b',
  cryptoServiceEncryptionUser: '33413926-3206-4cdd-b39a-83574fe37a17',
  cryptoAuditor: '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3',
  backup: '7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8',
  policyAdministrator: '4bd23610-cdcf-4971-bdee-bdc562cc28e4',
};
const API = 'api-version=7.5';
const cred = adminCredential();
const kvm = new KeyVaultManagementClient(cred, c.subscriptionId);
const msi = new ManagedServiceIdentityClient(cred, c.subscriptionId);
const rm = new ResourceManagementClient(cred, c.subscriptionId);
const rg = 'rg-hsmcmk';
const location = 'westeurope';
const poll = { updateIntervalInMs: 50 };
const hsmName = uniqueName('hsmc');
const hsmUrl = `https://${hsmName}.managedhsm.azure.net`;
const hsmBody = (props = {}) => ({ location, sku: { family: 'B', name: 'Standard_B1' },
  properties: { tenantId: c.tenantId, initialAdminObjectIds: [adminOid], softDeleteRetentionInDays: 90, ...props } });
let adminOid;

const hsmToken = async () => (await cred.getToken('https://managedhsm.azure.net/.default')).token;

async function assignRole(scope, role, principalId) {
  const name = crypto.randomUUID();
  const r = await c.request('PUT', `${hsmUrl}/${scope}/providers/Microsoft.Authorization/roleAssignments/${name}?${API}`,
    { token: await hsmToken(), body: { properties: {
      roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${role}`, principalId } } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.properties.scope, scope);
  return name;
}

// Three self-signed RSA certificates as JWKs with x5c, what the security domain download wants.
function sdCertificates() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cmksim-sd-'));
  try {
    return [0, 1, 2].map((i) => {
      const crt = path.join(dir, `c${i}.pem`);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, `k${i}.pem`),
        '-out', crt, '-subj', `/CN=sd${i}`, '-days', '2'], { stdio: 'ignore' });
      const x = new crypto.X509Certificate(fs.readFileSync(crt));
      const jwk = x.publicKey.export({ format: 'jwk' });
      return { kty: 'RSA', n: jwk.n, e: jwk.e, kid: `sd${i}`, alg: 'RSA-OAEP-256', key_ops: ['verify', 'encrypt', 'wrapKey'],
        x5c: [x.raw.toString('base64')], 'x5t#S256': crypto.createHash('sha256').update(x.raw).digest('base64url') };
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const made = {};

test.before(async () => {
  adminOid = JSON.parse(Buffer.from((await hsmToken()).split('.')[1], 'base64url')).oid;
  await rm.resourceGroups.createOrUpdate(rg, { location });
  await kvm.managedHsms.beginCreateOrUpdateAndWait(rg, hsmName, hsmBody(), poll);
  const token = await hsmToken();
  const r = await c.request('POST', `${hsmUrl}/securitydomain/download?${API}`,
    { token, body: { certificates: sdCertificates(), required: 2 } });
  assert.equal(r.status, 202, r.text);
  for (let i = 0; i < 200; i++) {
    const p = await c.request('GET', `${hsmUrl}/securitydomain/download/pending?${API}`, { token });
    if (p.body.status !== 'InProgress') break;
    await c.sleep(50);
  }
  assert.equal((await kvm.managedHsms.get(rg, hsmName)).properties.securityDomainProperties.activationStatus, 'Active');
  await assignRole('/', ROLE.cryptoUser, adminOid);
  await assignRole('/', ROLE.cryptoOfficer, adminOid);
});

test('built-in role definitions carry Azure\'s ids', async () => {
  const r = await c.request('GET', `${hsmUrl}///providers/Microsoft.Authorization/roleDefinitions?${API}`,
    { token: await hsmToken() });
  assert.equal(r.status, 200, r.text);
  const byName = Object.fromEntries(r.body.value.map((d) => [d.properties.roleName, d.name]));
  assert.equal(byName['Managed HSM Crypto Service Encryption User'], ROLE.cryptoServiceEncryptionUser);
  assert.equal(byName['Managed HSM Crypto Auditor'], ROLE.cryptoAuditor);
  assert.equal(byName['Managed HSM Backup'], ROLE.backup);
  assert.equal(byName['Managed HSM Policy Administrator'], ROLE.policyAdministrator);
});

test('HSM key types: RSA-HSM, EC-HSM, oct-HSM (AES key wrap); software key types refused', async () => {
  const kc = new KeyClient(hsmUrl, cred);
  made.rsa = await kc.createRsaKey('cmk', { keySize: 2048, hsm: true });
  assert.equal(made.rsa.keyType, 'RSA-HSM');
  const ec = await kc.createEcKey('ec', { curve: 'P-256', hsm: true });
  assert.equal(ec.keyType, 'EC-HSM');
  const digest = crypto.createHash('sha256').update('x').digest();
  const ecc = new CryptographyClient(ec.id, cred);
  assert.equal((await ecc.verify('ES256', digest, (await ecc.sign('ES256', digest)).result)).result, true);
  const oct = await kc.createOctKey('aes', { keySize: 256, hsm: true });
  assert.equal(oct.keyType, 'oct-HSM');
  assert.equal(oct.key.k, undefined, 'symmetric key material never leaves');
  const aes = new CryptographyClient(oct.id, cred);
  const dek = crypto.randomBytes(32);
  const w = await aes.wrapKey('A256KW', dek);
  assert.equal(w.result.length, 40);
  assert.deepEqual(Buffer.from((await aes.unwrapKey('A256KW', w.result)).result), dek);
  await rejects(kc.createEcKey('softec', { curve: 'P-256' }), { statusCode: 400 });
});

test('a role at one key\'s scope for a managed identity covers that key only', async () => {
  const app = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-hsm-app', { location });
  const appCred = new ManagedIdentityCredential({ clientId: app.clientId });
  await assignRole('/keys/cmk', ROLE.cryptoServiceEncryptionUser, app.principalId);
  const cc = new CryptographyClient(made.rsa.id, appCred);
  const w = await cc.wrapKey('RSA-OAEP-256', Buffer.alloc(32, 1));
  assert.deepEqual(Buffer.from((await cc.unwrapKey('RSA-OAEP-256', w.result)).result), Buffer.alloc(32, 1));
  await rejects(cc.sign('RS256', Buffer.alloc(32)), { statusCode: 403 });
  await rejects(new CryptographyClient(`${hsmUrl}/keys/aes`, appCred).wrapKey('A256KW', Buffer.alloc(32)),
    { statusCode: 403 });
});

test('purge protection cannot be turned off; a deleted HSM\'s name cannot be reused', async () => {
  await rejects(kvm.managedHsms.beginUpdateAndWait(rg, hsmName, { properties: { enablePurgeProtection: false } }, poll),
    { statusCode: 400 });
  assert.ok((await all(kvm.managedHsms.listBySubscription())).some((x) => x.name === hsmName));
  const other = uniqueName('hsmd');
  await kvm.managedHsms.beginCreateOrUpdateAndWait(rg, other, hsmBody(), poll);
  await kvm.managedHsms.beginDeleteAndWait(rg, other, poll);
  await rejects(kvm.managedHsms.beginCreateOrUpdateAndWait(rg, other, hsmBody(), poll), { statusCode: 409 });
  assert.equal((await kvm.managedHsms.checkMhsmNameAvailability({ name: other })).nameAvailable, false);
});

test('R14: a CMK PostgreSQL server on an HSM key, created and refused as with a vault key', async (t) => {
  if (!(await providerWired('Microsoft.DBforPostgreSQL'))) return t.skip('the flexibleServers provider is not wired');
  const pg = new PostgreSQLManagementFlexibleServerClient(cred, c.subscriptionId);
  const mi = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-hsm-pg', { location });
  // the seed's prerequisites hold for an HSM too: get, list, wrapKey, unwrapKey; a role on the
  // key alone does not let the identity list keys
  const scoped = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-hsm-scoped', { location });
  await assignRole('/keys/cmk', ROLE.cryptoServiceEncryptionUser, scoped.principalId);
  await assignRole('/keys', ROLE.cryptoServiceEncryptionUser, mi.principalId);
  const keyUri = `${hsmUrl}/keys/cmk`;
  const body = (id) => ({ location, tags: { 'cmksim-profile': 'instant' },
    identity: { type: 'UserAssigned', userAssignedIdentities: { [id.id]: {} } },
    administratorLogin: 'pgadmin', administratorLoginPassword: 'Sandbox-Passw0rd!', version: '16',
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: keyUri, primaryUserAssignedIdentityId: id.id } });
  const name = uniqueName('pghsm');
  const s = await pg.servers.beginCreateOrUpdateAndWait(rg, name, body(mi), poll);
  assert.equal(s.state, 'Ready');
  assert.equal(s.dataEncryption.primaryKeyURI, keyUri);
  assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Valid');
  const bare = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-hsm-bare', { location });
  let e = await rejects(pg.servers.beginCreateOrUpdateAndWait(rg, uniqueName('pghsm'), body(bare), poll),
    { statusCode: 400, code: 'AzureKeyVaultMissingPermissions' });
  assert.match(e.message, /missing: 'Get, List, WrapKey, UnwrapKey'/);
  e = await rejects(pg.servers.beginCreateOrUpdateAndWait(rg, uniqueName('pghsm'), body(scoped), poll),
    { statusCode: 400, code: 'AzureKeyVaultMissingPermissions' });
  assert.match(e.message, /missing: 'List'/);
  // losing the role: revalidation turns the server Inaccessible
  const list = await c.request('GET', `${hsmUrl}///providers/Microsoft.Authorization/roleAssignments?${API}`,
    { token: await hsmToken() });
  const mine = list.body.value.find((a) => a.properties.principalId === mi.principalId);
  const d = await c.request('DELETE', `${hsmUrl}//keys/providers/Microsoft.Authorization/roleAssignments/${mine.name}?${API}`,
    { token: await hsmToken() });
  assert.equal(d.status, 200, d.text);
  const mt = (await cred.getToken('https://management.azure.com/.default')).token;
  const r = await c.request('POST', `https://management.azure.com${s.id}/revalidateDataEncryption?api-version=2025-08-01`, { token: mt });
  assert.ok([200, 202].includes(r.status), r.text);
  const after = await pg.servers.get(rg, name);
  assert.equal(after.state, 'Inaccessible');
  assert.equal(after.dataEncryption.primaryEncryptionKeyStatus, 'Invalid');
});
