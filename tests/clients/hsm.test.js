// hsm.test.js: the Managed HSM conformance suite (issue 4) with the cloud's own host names,
// https://NAME.managedhsm.azure.net, through cmksim's CONNECT proxy. Management with
// @azure/arm-keyvault (managedHsms: create LRO, get, list, name availability, delete, deleted
// get, purge refused under purge protection, recover), keys with @azure/keyvault-keys KeyClient
// and CryptographyClient pointed at the HSM URL; the security domain download and local RBAC
// with raw REST (no SDK for them in the lock file), as the service documents them. The
// security domain the emulator hands out is checked here too: two of the three private keys
// open it (RSA-OAEP-256 + A256CBC-HS512 shares, Shamir over GF(257), SP 800-108 key
// derivation), as `az keyvault security-domain restore-blob` would.
'use strict';
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const execFile = promisify(require('node:child_process').execFile);
const { KeyClient, CryptographyClient } = require('@azure/keyvault-keys');
const { KeyVaultManagementClient } = require('@azure/arm-keyvault');
const { ResourceManagementClient } = require('@azure/arm-resources');
const c = require('./lib/cmksim');
const { adminCredential, uniqueName, rejects, all, gated } = require('./lib/azure');

const test = gated('Microsoft.KeyVault/managedHSMs', 'hsmsim');

const ROLE = { // Managed HSM local RBAC built-in role definition ids
  administrator: 'a290e904-7015-4bba-90c8-60543313cdb4',
  cryptoOfficer: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
  cryptoUser: '21dbd100-6940-42c2-9190-5d6cb909625b',
  cryptoServiceEncryptionUser: '33413926-3206-4cdd-b39a-83574fe37a17',
};
const API = 'api-version=7.4';
const RA = 'providers/Microsoft.Authorization/roleAssignments';

// ---- the security domain, read as the Azure CLI reads it --------------------------------------

const b64u = (s) => Buffer.from(s, 'base64url');
function u32be(n) { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; }

function jweDecrypt(compact, cek) {
  const [h, , iv, ct, tag] = compact.split('.');
  const al = Buffer.alloc(8);
  al.writeBigUInt64BE(BigInt(h.length * 8));
  const mac = crypto.createHmac('sha512', cek.subarray(0, 32))
    .update(Buffer.concat([Buffer.from(h, 'ascii'), b64u(iv), b64u(ct), al])).digest();
  assert.deepEqual(mac.subarray(0, 32), b64u(tag), 'JWE authentication tag');
  const d = crypto.createDecipheriv('aes-256-cbc', cek.subarray(32, 64), b64u(iv));
  return Buffer.concat([d.update(b64u(ct)), d.final()]);
}

// Shamir over GF(257): each master key byte is a little-endian uint16 (x << 9 | y) per share.
function combine(shares) {
  const p = 257;
  const pow = (a, e) => { let r = 1; for (let i = 0; i < e; i++) r = (r * a) % p; return r; };
  const out = Buffer.alloc(shares[0].length / 2);
  for (let j = 0; j < out.length; j++) {
    const pts = shares.map((s) => { const w = s.readUInt16LE(2 * j); return [w >> 9, w & 0x1ff]; });
    let secret = 0;
    for (let i = 0; i < pts.length; i++) {
      let num = 1;
      let den = 1;
      for (let k = 0; k < pts.length; k++) {
        if (k === i) continue;
        num = (num * pts[k][0]) % p;
        den = (den * ((pts[k][0] - pts[i][0] + p) % p)) % p;
      }
      secret = (secret + ((num * pow(den, p - 2)) % p) * pts[i][1]) % p;
    }
    out[j] = secret;
  }
  return out;
}

function openSecurityDomain(value, privateKeys) {
  const sd = JSON.parse(value);
  assert.equal(sd.SharedKeys.key_algorithm, 'shamir_share');
  const shares = [];
  for (const share of sd.SharedKeys.enc_shares) {
    for (const key of privateKeys) {
      let cek;
      try {
        cek = crypto.privateDecrypt({ key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: 'sha256' }, b64u(share.enc_key.split('.')[1]));
      } catch { continue; }
      shares.push(jweDecrypt(share.enc_key, cek));
      break;
    }
  }
  assert.ok(shares.length >= sd.SharedKeys.required, 'enough shares open with these keys');
  const master = combine(shares.slice(0, sd.SharedKeys.required));
  return sd.EncData.data.map(({ tag, compact_jwe: jwe }) => {
    const key = crypto.createHmac('sha512', master)
      .update(Buffer.concat([u32be(1), Buffer.from(tag), Buffer.from([0]), u32be(512)])).digest();
    return jweDecrypt(jwe, key).toString('utf8');
  });
}

// Three RSA key pairs with self-signed certificates (openssl, as the service's docs do it; made
// in parallel: RSA key generation is slow on a loaded machine).
async function securityDomainKeys() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cmksim-sd-'));
  const out = await Promise.all([0, 1, 2].map(async (i) => {
    const key = path.join(dir, `k${i}.pem`);
    const cer = path.join(dir, `c${i}.pem`);
    await execFile('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
      '-out', cer, '-days', '2', '-subj', `/CN=cmksim sd ${i}`]);
    const x = new crypto.X509Certificate(fs.readFileSync(cer));
    const jwk = x.publicKey.export({ format: 'jwk' });
    return {
      privateKey: crypto.createPrivateKey(fs.readFileSync(key)),
      jwk: { kid: `sd-${i}`, kty: 'RSA', key_ops: ['verify', 'encrypt', 'wrapKey'],
        alg: 'RSA-OAEP-256', n: jwk.n, e: jwk.e, x5c: [x.raw.toString('base64')],
        'x5t#S256': crypto.createHash('sha256').update(x.raw).digest('base64url') },
    };
  }));
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

// ---- the suite -------------------------------------------------------------------------------

const cred = adminCredential();
const kvm = new KeyVaultManagementClient(cred, c.subscriptionId);
const rm = new ResourceManagementClient(cred, c.subscriptionId);
const rg = 'rg-hsm';
const location = 'eastus';
const poll = { updateIntervalInMs: 100 };
const name = uniqueName('mhsm');
const hsmUrl = `https://${name}.managedhsm.azure.net`;
let adminOid;
let hsmToken;

async function dp(method, p, body) {
  return c.request(method, `${hsmUrl}${p}${p.includes('?') ? '&' : '?'}${API}`,
    { token: hsmToken, body });
}
async function assign(scope, raName, role, principal) {
  const r = await dp('PUT', `/${scope}/${RA}/${raName}`, { properties: {
    roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${role}`,
    principalId: principal } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
const RA_USER = crypto.randomUUID();
const RA_OFFICER = crypto.randomUUID();

test.before(async () => {
  hsmToken = (await cred.getToken('https://managedhsm.azure.net/.default')).token;
  adminOid = JSON.parse(Buffer.from(hsmToken.split('.')[1], 'base64url')).oid;
  await rm.resourceGroups.createOrUpdate(rg, { location });
});

test('managedHsms: create (LRO), get, list, name availability', async () => {
  const h = await kvm.managedHsms.beginCreateOrUpdateAndWait(rg, name, {
    location,
    sku: { family: 'B', name: 'Standard_B1' },
    properties: { tenantId: c.tenantId, initialAdminObjectIds: [adminOid],
      softDeleteRetentionInDays: 7 },
  }, poll);
  assert.equal(h.name, name);
  assert.equal(h.type, 'Microsoft.KeyVault/managedHSMs');
  assert.equal(h.properties.provisioningState, 'Succeeded');
  assert.equal(h.properties.hsmUri, `${hsmUrl}/`);
  assert.equal(h.properties.enableSoftDelete, true);
  assert.equal(h.properties.enablePurgeProtection, true, 'purge protection is on by default');
  assert.equal(h.properties.softDeleteRetentionInDays, 7);
  assert.equal(h.properties.securityDomainProperties.activationStatus, 'NotActivated');
  const got = await kvm.managedHsms.get(rg, name);
  assert.deepEqual(got.properties.initialAdminObjectIds, [adminOid]);
  assert.ok((await all(kvm.managedHsms.listByResourceGroup(rg))).some((x) => x.name === name));
  const avail = await kvm.managedHsms.checkMhsmNameAvailability({ name });
  assert.equal(avail.nameAvailable, false);
  assert.equal(avail.reason, 'AlreadyExists');
  await rejects(kvm.managedHsms.beginCreateOrUpdateAndWait(rg, uniqueName('mhsm'), {
    location, sku: { family: 'B', name: 'Standard_B1' },
    properties: { tenantId: c.tenantId, initialAdminObjectIds: [adminOid],
      softDeleteRetentionInDays: 5 } }, poll), { statusCode: 400 });
});

test('an HSM that is not activated refuses key operations', async () => {
  const keys = new KeyClient(hsmUrl, cred);
  await rejects(keys.createRsaKey('early', { hsm: true }),
    { statusCode: 403, message: /not activated/ });
});

test('activation: security domain download (3 certificates, quorum 2)', async () => {
  const sdKeys = await securityDomainKeys();
  const r = await dp('POST', '/securitydomain/download',
    { certificates: sdKeys.map((k) => k.jwk), required: 2 });
  assert.equal(r.status, 202, r.text);
  assert.ok(r.headers['retry-after']);
  for (let i = 0; i < 100; i++) {
    const s = await dp('GET', '/securitydomain/download/pending');
    assert.equal(s.status, 200, s.text);
    if (s.body.status === 'Success') break;
    assert.equal(s.body.status, 'InProgress');
    await c.sleep(200);
  }
  const h = await kvm.managedHsms.get(rg, name);
  assert.equal(h.properties.securityDomainProperties.activationStatus, 'Active');
  // the security domain opens with two of the three private keys
  const [data] = openSecurityDomain(r.body.value, [sdKeys[2].privateKey, sdKeys[0].privateKey]);
  assert.equal(JSON.parse(data).hsm, `${hsmUrl}/`);
  assert.throws(() => openSecurityDomain(r.body.value, [sdKeys[1].privateKey]));
});

test('local RBAC: the administrator assigns crypto roles', async () => {
  // the administrator role holds no key permission
  await rejects(new KeyClient(hsmUrl, cred).createRsaKey('nope', { hsm: true }),
    { statusCode: 403, message: /managedHsm\/keys\/create/ });
  const list = await dp('GET', `///${RA}`);
  assert.equal(list.status, 200, list.text);
  assert.ok(list.body.value.some((a) => a.properties.principalId === adminOid
    && a.properties.roleDefinitionId.endsWith(ROLE.administrator)));
  const defs = await dp('GET', '///providers/Microsoft.Authorization/roleDefinitions');
  assert.ok(defs.body.value.some((d) => d.properties.roleName === 'Managed HSM Crypto User'
    && d.name === ROLE.cryptoUser));
  const a = await assign('/', RA_USER, ROLE.cryptoUser, adminOid);
  assert.equal(a.properties.scope, '/');
  assert.equal(a.id, `/${RA}/${RA_USER}`);
  await assign('/keys', RA_OFFICER, ROLE.cryptoOfficer, adminOid);
  const got = await dp('GET', `///${RA}/${RA_USER}`);
  assert.equal(got.status, 200);
});

test('keys: createRsaKey({hsm: true}) on the HSM, wrap/unwrap with CryptographyClient', async () => {
  const keys = new KeyClient(hsmUrl, cred);
  const k = await keys.createRsaKey('k', { hsm: true, keySize: 2048 });
  assert.equal(k.keyType, 'RSA-HSM');
  assert.ok(k.id.startsWith(`${hsmUrl}/keys/k/`));
  assert.equal(k.properties.recoverableDays, 7);
  // software keys are not what a Managed HSM holds
  await rejects(keys.createRsaKey('soft'), { statusCode: 400 });
  const crypt = new CryptographyClient(k, cred);
  const cek = crypto.randomBytes(32);
  const wrapped = await crypt.wrapKey('RSA-OAEP-256', cek);
  assert.equal(wrapped.keyID, k.id);
  const unwrapped = await crypt.unwrapKey('RSA-OAEP-256', wrapped.result);
  assert.deepEqual(Buffer.from(unwrapped.result), cek);
});

test('remove the role: 403, then granted again', async () => {
  const crypt = new CryptographyClient(`${hsmUrl}/keys/k`, cred);
  const del = await dp('DELETE', `///${RA}/${RA_USER}`);
  assert.equal(del.status, 200, del.text);
  await rejects(crypt.wrapKey('RSA-OAEP-256', crypto.randomBytes(32)),
    { statusCode: 403, message: /managedHsm\/keys\/wrap\/action/ });
  assert.equal((await dp('DELETE', `///${RA}/${RA_USER}`)).status, 404);
  await assign('/', RA_USER, ROLE.cryptoUser, adminOid);
  await crypt.wrapKey('RSA-OAEP-256', crypto.randomBytes(32));
});

test('keys: delete, recover; purge refused under purge protection', async () => {
  const keys = new KeyClient(hsmUrl, cred);
  await (await keys.beginDeleteKey('k', poll)).pollUntilDone();
  const deleted = await keys.getDeletedKey('k');
  assert.ok(deleted.properties.scheduledPurgeDate);
  await (await keys.beginRecoverDeletedKey('k', poll)).pollUntilDone();
  assert.equal((await keys.getKey('k')).keyType, 'RSA-HSM');
  await (await keys.beginDeleteKey('k', poll)).pollUntilDone();
  await rejects(keys.purgeDeletedKey('k'), { statusCode: 403 });
  await (await keys.beginRecoverDeletedKey('k', poll)).pollUntilDone();
});

test('kill -9: the HSM, its roles and keys survive a restart', async () => {
  await c.restartHard();
  const h = await kvm.managedHsms.get(rg, name);
  assert.equal(h.properties.securityDomainProperties.activationStatus, 'Active');
  const k = await new KeyClient(hsmUrl, cred).getKey('k');
  const crypt = new CryptographyClient(k, cred);
  const cek = crypto.randomBytes(32);
  const w = await crypt.wrapKey('RSA-OAEP-256', cek);
  assert.deepEqual(Buffer.from((await crypt.unwrapKey('RSA-OAEP-256', w.result)).result), cek);
});

test('managedHsms: delete (soft), deleted get, purge refused, recover', async () => {
  await kvm.managedHsms.beginDeleteAndWait(rg, name, poll);
  await rejects(kvm.managedHsms.get(rg, name), { statusCode: 404 });
  const d = await kvm.managedHsms.getDeleted(name, location);
  assert.equal(d.name, name);
  assert.equal(d.properties.purgeProtectionEnabled, true);
  assert.ok(d.properties.scheduledPurgeDate);
  assert.ok((await all(kvm.managedHsms.listDeleted())).some((x) => x.name === name));
  await rejects(kvm.managedHsms.beginPurgeDeletedAndWait(name, location, poll),
    { statusCode: 409 });
  const h = await kvm.managedHsms.beginCreateOrUpdateAndWait(rg, name, {
    location, sku: { family: 'B', name: 'Standard_B1' },
    properties: { tenantId: c.tenantId, initialAdminObjectIds: [adminOid], createMode: 'recover' },
  }, poll);
  assert.equal(h.properties.provisioningState, 'Succeeded');
  assert.equal(h.properties.securityDomainProperties.activationStatus, 'Active');
  assert.equal((await new KeyClient(hsmUrl, cred).getKey('k')).keyType, 'RSA-HSM');
});
