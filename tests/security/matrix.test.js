// matrix.test.js: the security matrix (issue 9). Every route of every service of a fresh
// `cmksim serve`, reached over HTTPS by host name as an attacker would, against every way a
// request can fail to be allowed: no token, a malformed one, an expired one, one signed by
// another key, alg none, HS256 keyed with the public key, claims swapped under a valid
// signature, the wrong audience, the wrong tenant, a deleted identity; then per key permission
// (each missing in turn), an RBAC vault without a role, an HSM without a local role, firewall
// deny with and without the trusted-services bypass (and forged forwarding headers), public
// access disabled, disabled / expired / not-yet-valid keys, malformed and oversized bodies,
// oversized heads, path tricks, and CONNECTs to hosts cmksim does not serve. Each case has an
// expected status and error code; none may succeed, and the state is checked afterwards for
// what an accepted write would have left.
//
// The route list is not trusted to this file: serve runs at --log-level debug, which logs
// every route the router registers, and the first test fails if one has no row here. Resource
// types behind ARM's generic routes come from the provider registry the same way.
//
// After the suite: no private key material (a JWK whose d/p/q this test knows, imported into
// a vault), no DEK (the data plane's, unwrapped by the test), no wrapped or encrypted
// plaintext and no inserted SQL row in clear in any file under the state directory, the log,
// the live event stream or any response; every file that holds a secret is mode 0600.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const https = require('node:https');
const { execFileSync } = require('node:child_process');
const { createRequire } = require('node:module');
const sec = require('./lib/sec');

const { c } = sec;
const need = createRequire(path.join(__dirname, '..', 'clients', 'package.json'));
const pgdriver = need('pg');

const MGMT = 'https://management.azure.com';
const LOGIN = 'https://login.microsoftonline.com';
const GRAPH = 'https://graph.microsoft.com';
const AUD = { mgmt: 'https://management.azure.com', vault: 'https://vault.azure.net',
  hsm: 'https://managedhsm.azure.net', graph: 'https://graph.microsoft.com' };
const SUB = c.subscriptionId;
const TEN = c.tenantId;
const OTHER = { tenant: '33333333-3333-4333-8333-333333333333',
  sub: '44444444-4444-4444-8444-444444444444', secret: `sec-other~${crypto.randomBytes(12).toString('hex')}` };
const RG = 'rg-sec';
const LOC = 'westeurope';
const API = { kv: '7.5', vaults: '2026-02-01', msi: '2024-11-30', pg: '2025-08-01', rm: '2021-04-01',
  authz: '2022-04-01', hsm: '7.4' };
const MARKER = `sec-plaintext-${crypto.randomBytes(8).toString('hex')}`;
const PASSWORD = 'Sandbox-Passw0rd!';
const tag = crypto.randomBytes(3).toString('hex');
const N = { kv: `kvsec${tag}`, rbac: `kvrbac${tag}`, fw: `kvfw${tag}`, fwnb: `kvfwnb${tag}`,
  pna: `kvpna${tag}`, foreign: `kvfor${tag}`, hsm: `hsmsec${tag}`, pg: `pgsec${tag}` };
const ATK = `atk${tag}`; // every name an attack tries to create
const ALL_PERMS = ['get', 'list', 'update', 'create', 'import', 'delete', 'recover', 'backup',
  'restore', 'decrypt', 'encrypt', 'unwrapKey', 'wrapKey', 'verify', 'sign', 'purge', 'release',
  'rotate', 'getrotationpolicy', 'setrotationpolicy'];
const WRAP = ['get', 'list', 'wrapKey', 'unwrapKey'];

const S = { tok: {}, other: {}, mi: {}, responses: [], failures: [], counts: {}, timing: {} };
const vaultHost = (v) => `${v}.vault.azure.net`;
const hsmHost = () => `${N.hsm}.managedhsm.azure.net`;
const arm = (p, api) => `${MGMT}${p}${p.includes('?') ? '&' : '?'}api-version=${api}`;
const rgPath = (rest) => `/subscriptions/${SUB}/resourceGroups/${RG}/providers/${rest}`;

// One request; every answer is kept for the secret scan.
async function req(method, url, opts = {}) {
  let r;
  const t0 = process.hrtime.bigint();
  // No retry: a keep-alive connection the server drops after an error answer is a finding (it
  // was: a forged token's failed signature check left OpenSSL's error queue set, and the next
  // SSL_read on that connection took it for a TLS failure).
  let timer;
  r = await Promise.race([c.request(method, url, opts), new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no answer in 20 s: ${method} ${url}`)), 20000);
  })]).finally(() => clearTimeout(timer));
  S.responses.push(Buffer.from(`${r.status} ${JSON.stringify(r.headers)} ${r.text}`));
  const key = `${method} ${new URL(url).hostname.split('.').slice(-3).join('.')} ${r.status}`;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const e = (S.timing[key] ??= { n: 0, ms: 0 });
  e.n++; e.ms += ms;
  return r;
}
async function ok(method, url, opts, want = [200, 201, 202, 204]) {
  const r = await req(method, url, opts);
  assert.ok(want.includes(r.status), `${method} ${url}: ${r.status} ${r.text.slice(0, 400)}`);
  return r;
}
const code = (r) => r.body?.error?.code ?? r.body?.error ?? r.body?.code ?? '';
const inner = (r) => r.body?.error?.innererror?.code ?? '';

async function waitArm(p, api, field = (b) => b.properties?.provisioningState) {
  for (let i = 0; i < 400; i++) {
    const r = await req('GET', arm(p, api), { token: S.tok.mgmt });
    if (r.status === 200 && /Succeeded|Ready/.test(field(r.body) ?? '')) return r.body;
    await sec.sleep(50);
  }
  throw new Error(`${p} did not finish`);
}

async function msiToken(mi, resource) {
  const u = `${MGMT}/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(resource)}&mi_res_id=${encodeURIComponent(mi.id)}`;
  const r = await ok('GET', u, { headers: { 'x-identity-header': process.env.IDENTITY_HEADER } });
  return r.body.access_token;
}

async function tokensFor(get) {
  const out = {};
  for (const [k, aud] of Object.entries(AUD)) out[k] = await get(aud);
  return out;
}

// ---- setup -------------------------------------------------------------------------------

async function identity(name) {
  const r = await ok('PUT', arm(rgPath(`Microsoft.ManagedIdentity/userAssignedIdentities/${name}`), API.msi),
    { token: S.tok.mgmt, body: { location: LOC } });
  return { id: r.body.id, principalId: r.body.properties.principalId, clientId: r.body.properties.clientId, name };
}

async function vault(name, { policies = [], extra = {}, tenantId = TEN } = {}) {
  const p = rgPath(`Microsoft.KeyVault/vaults/${name}`);
  await ok('PUT', arm(p, API.vaults), { token: S.tok.mgmt, body: { location: LOC, properties: {
    tenantId, sku: { family: 'A', name: 'standard' }, enableSoftDelete: true,
    softDeleteRetentionInDays: 90, enablePurgeProtection: true,
    accessPolicies: [{ tenantId, objectId: S.adminOid, permissions: { keys: ['all'] } },
      ...policies.map(([oid, perms]) => ({ tenantId, objectId: oid, permissions: { keys: perms } }))],
    ...extra } } });
  return waitArm(p, API.vaults);
}

const kv = (v, p, api = API.kv) => `https://${vaultHost(v)}${p}${p.includes('?') ? '&' : '?'}api-version=${api}`;

// A known RSA key as a JWK, for import: its private parts are the scan's needles.
const knownKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const knownJwk = knownKey.export({ format: 'jwk' });
const attackJwk = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const WRAPPED_SECRET = crypto.randomBytes(32); // a "DEK" this test wraps through the vault
const ENCRYPTED_SECRET = Buffer.from(`${MARKER}-encrypt`);

function securityDomainCerts() {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'sec-sd-'));
  const out = [];
  for (let i = 0; i < 3; i++) {
    const key = path.join(dir, `k${i}.pem`);
    const cer = path.join(dir, `c${i}.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
      '-out', cer, '-days', '2', '-subj', `/CN=sec sd ${i}`], { stdio: 'ignore' });
    const x = new crypto.X509Certificate(fs.readFileSync(cer));
    const jwk = x.publicKey.export({ format: 'jwk' });
    out.push({ kid: `sd-${i}`, kty: 'RSA', key_ops: ['verify', 'encrypt', 'wrapKey'],
      alg: 'RSA-OAEP-256', n: jwk.n, e: jwk.e, x5c: [x.raw.toString('base64')],
      'x5t#S256': crypto.createHash('sha256').update(x.raw).digest('base64url') });
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

// The live event stream (the dashboard's trace of everything that happens), kept for the scan.
function subscribeEvents() {
  const u = new URL(`${MGMT}/_cmksim/events`);
  const chunks = [];
  const r = https.request({ host: '127.0.0.1', port: Number(c.serveInfo().https.split(':').pop()),
    servername: u.hostname, path: u.pathname, ca: c.ca,
    headers: { host: u.host, authorization: `Bearer ${S.tok.mgmt}`, accept: 'text/event-stream' } },
  (res) => { S.eventsStatus = res.statusCode; res.on('data', (d) => chunks.push(d)); res.on('error', () => {}); });
  r.on('error', () => {});
  r.end();
  S.events = { chunks, req: r };
}

test.before(async () => {
  // the second tenant: serve has no route for it, so it is added with the server stopped
  S.other = await sec.withServerStopped(() => sec.seedTenant(OTHER.tenant, OTHER.sub, OTHER.secret));
  S.tok = await tokensFor((aud) => c.token(`${aud}/.default`));
  S.adminOid = sec.claims(S.tok.vault).oid;
  S.otherTok = await tokensFor((aud) => c.token(`${aud}/.default`,
    { tenant: OTHER.tenant, id: S.other.clientId, secret: OTHER.secret }));
  subscribeEvents();

  await ok('PUT', arm(`/subscriptions/${SUB}/resourcegroups/${RG}`, API.rm), { token: S.tok.mgmt, body: { location: LOC } });
  for (const n of ['mi-wrap', 'mi-lack', 'mi-norole', 'mi-doomed']) S.mi[n] = await identity(`${n}-${tag}`);
  await vault(N.kv, { policies: [[S.mi['mi-wrap'].principalId, WRAP], [S.mi['mi-lack'].principalId, ALL_PERMS],
    [S.mi['mi-doomed'].principalId, ['all']]] });
  await vault(N.rbac, { extra: { enableRbacAuthorization: true } });
  await vault(N.fw, { extra: { networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices', ipRules: [{ value: '10.0.0.0/8' }] } } });
  await vault(N.fwnb, { extra: { networkAcls: { defaultAction: 'Deny', bypass: 'None', ipRules: [{ value: '10.0.0.0/8' }] } } });
  await vault(N.pna, { extra: { publicNetworkAccess: 'Disabled' } });
  await vault(N.foreign, { tenantId: OTHER.tenant });

  // keys: k1 (the working key), states, an imported known key, a deleted one
  const kt = { token: S.tok.vault };
  const k1 = await ok('POST', kv(N.kv, '/keys/k1/create'), { ...kt, body: { kty: 'RSA', key_size: 2048 } });
  S.k1version = k1.body.key.kid.split('/').pop();
  const now = Math.floor(Date.now() / 1000);
  S.versions = {};
  for (const [k, attributes] of [['kdis', { enabled: false }], ['kexp', { exp: now - 3600 }], ['knbf', { nbf: now + 30 * 86400 }]]) {
    const r = await ok('POST', kv(N.kv, `/keys/${k}/create`), { ...kt, body: { kty: 'RSA', key_size: 2048, attributes } });
    S.versions[k] = r.body.key.kid.split('/').pop();
  }
  await ok('PUT', kv(N.kv, '/keys/kimp'), { ...kt, body: { key: { ...knownJwk, key_ops: ['wrapKey', 'unwrapKey', 'encrypt', 'decrypt', 'sign', 'verify'] } } });
  await ok('POST', kv(N.kv, '/keys/kmal/create'), { ...kt, body: { kty: 'RSA', key_size: 2048 } });
  await ok('POST', kv(N.kv, '/keys/kdel/create'), { ...kt, body: { kty: 'RSA', key_size: 2048 } });
  await ok('DELETE', kv(N.kv, '/keys/kdel'), kt);
  for (const v of [N.fw, N.fwnb, N.pna, N.rbac]) S[`ver_${v}`] = 'x';
  // secrets through the crypto routes: wrapped and encrypted, then unwrapped (must round-trip)
  const w = await ok('POST', kv(N.kv, '/keys/kimp/wrapkey'), { ...kt, body: { alg: 'RSA-OAEP-256', value: WRAPPED_SECRET.toString('base64url') } });
  const u = await ok('POST', kv(N.kv, '/keys/kimp/unwrapkey'), { ...kt, body: { alg: 'RSA-OAEP-256', value: w.body.value } });
  assert.equal(Buffer.from(u.body.value, 'base64url').compare(WRAPPED_SECRET), 0);
  S.wrapped = w.body.value;
  await ok('POST', kv(N.kv, '/keys/k1/encrypt'), { ...kt, body: { alg: 'RSA-OAEP-256', value: ENCRYPTED_SECRET.toString('base64url') } });
  S.signature = (await ok('POST', kv(N.kv, '/keys/k1/sign'), { ...kt, body: { alg: 'RS256', value: crypto.createHash('sha256').update('x').digest('base64url') } })).body.value;
  S.backup = (await ok('POST', kv(N.kv, '/keys/k1/backup'), kt)).body.value;

  // the managed HSM, activated, with a key
  const hp = rgPath(`Microsoft.KeyVault/managedHSMs/${N.hsm}`);
  await ok('PUT', arm(hp, API.vaults), { token: S.tok.mgmt, body: { location: 'eastus', sku: { family: 'B', name: 'Standard_B1' },
    properties: { tenantId: TEN, initialAdminObjectIds: [S.adminOid], softDeleteRetentionInDays: 7 } } });
  await waitArm(hp, API.vaults);
  const hk = (p) => `https://${hsmHost()}${p}${p.includes('?') ? '&' : '?'}api-version=${API.hsm}`;
  await ok('POST', hk('/securitydomain/download'), { token: S.tok.hsm, body: { certificates: securityDomainCerts(), required: 2 } });
  for (let i = 0; i < 200; i++) {
    const s = await ok('GET', hk('/securitydomain/download/pending'), { token: S.tok.hsm });
    if (s.body.status === 'Success') break;
    await sec.sleep(50);
  }
  for (const role of ['515eb02d-2335-4d2d-92f2-b1cbdf9c3778', '21dbd100-6940-42c2-9190-5d6cb909625b']) {
    await ok('PUT', hk(`/providers/Microsoft.Authorization/roleAssignments/${crypto.randomUUID()}`), { token: S.tok.hsm,
      body: { properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${role}`,
        principalId: S.adminOid } } });
  }
  const h1 = await ok('POST', hk('/keys/hk1/create'), { token: S.tok.hsm, body: { kty: 'RSA-HSM', key_size: 2048 } });
  S.hk1version = h1.body.key.kid.split('/').pop();

  // a CMK server with a row of known plaintext
  const sp = rgPath(`Microsoft.DBforPostgreSQL/flexibleServers/${N.pg}`);
  const mi = S.mi['mi-wrap'];
  await ok('PUT', arm(sp, API.pg), { token: S.tok.mgmt, body: { location: LOC,
    sku: { name: 'Standard_D2ds_v4', tier: 'GeneralPurpose' }, tags: { 'cmksim-profile': 'instant' },
    identity: { type: 'UserAssigned', userAssignedIdentities: { [mi.id]: {} } },
    properties: { administratorLogin: 'pgadmin', administratorLoginPassword: PASSWORD, version: '16',
      storage: { storageSizeGB: 32 }, backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' },
      dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: `https://${vaultHost(N.kv)}/keys/k1`,
        primaryUserAssignedIdentityId: mi.id } } } });
  await waitArm(sp, API.pg, (b) => b.properties?.state);
  const pgc = await pgClient();
  await pgc.query('CREATE TABLE secrets(id int PRIMARY KEY, v text)');
  await pgc.query('INSERT INTO secrets VALUES (1, $1)', [`${MARKER}-row`]);
  await pgc.end();

  // the doomed identity's tokens, then its deletion
  S.doomed = await tokensFor((aud) => msiToken(S.mi['mi-doomed'], aud));
  S.lackTok = await msiToken(S.mi['mi-lack'], AUD.vault);
  S.noroleTok = { vault: await msiToken(S.mi['mi-norole'], AUD.vault), hsm: await msiToken(S.mi['mi-norole'], AUD.hsm) };
  await ok('DELETE', arm(rgPath(`Microsoft.ManagedIdentity/userAssignedIdentities/${S.mi['mi-doomed'].name}`), API.msi),
    { token: S.tok.mgmt });
  S.jwksPem = await publicKeyPem();
  S.responses = []; // from here on, only answers to requests that must fail or reveal nothing
});

test.after(() => { S.events?.req.destroy(); c.agent.destroy(); });

function pgHost() { return `${N.pg}.postgres.database.azure.com`; }
async function pgClient({ user = 'pgadmin', password = PASSWORD } = {}) {
  const cl = new pgdriver.Client({ host: '127.0.0.1', port: Number(c.serveInfo().postgres.split(':').pop()),
    user, password, database: 'postgres', ssl: { ca: c.ca, servername: pgHost() } });
  await cl.connect();
  return cl;
}

async function publicKeyPem() {
  const r = await ok('GET', `${LOGIN}/${TEN}/discovery/v2.0/keys`);
  assert.ok(r.body.keys.length >= 1);
  for (const k of r.body.keys) for (const f of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[f], undefined, `JWKS has ${f}`);
  return crypto.createPublicKey({ key: r.body.keys[0], format: 'jwk' }).export({ type: 'spki', format: 'pem' });
}

// ---- the route table -----------------------------------------------------------------------

// family: how a route authenticates. vault / hsm (Key Vault tokens), arm (ARM tokens at
// subscription scope), armTenant (ARM tokens, tenant-scoped listing: another tenant's caller sees
// its own), admin (/_cmksim, default tenant only), graph, public (no token by design; own tests).
function family(host, method, pattern) {
  if (host === 'vault') return 'vault';
  if (host === 'hsm') return 'hsm';
  if (host === 'graph') return pattern === '/v1.0/me' ? 'graphMe' : 'graph';
  if (host === 'login') return 'public';
  if (pattern === '/msi/token') return 'msi';
  if (['/', '/_cmksim/health', '/_cmksim/dashboard', '/_cmksim/dashboard/', '/_cmksim/dashboard/{file}'].includes(pattern)) return 'public';
  if (pattern === '/_cmksim/dashboard/token') return 'dashToken';
  if (pattern === '/_cmksim/dashboard/call') return 'relay';
  if (pattern.startsWith('/_cmksim/vaults/') || pattern.startsWith('/_cmksim/managedHSMs/')) return 'auditShort';
  if (pattern.startsWith('/_cmksim/')) return 'admin';
  if (!pattern.startsWith('/subscriptions/')) return 'armTenant';
  return 'arm';
}

// A concrete path for a pattern: placeholders filled with existing resources (so only the
// authorisation can stop the request), names to create with the attack prefix.
function fill(host, method, pattern) {
  const hsm = host === 'hsm';
  const v = {
    s: SUB, rg: RG, v: N.kv, vault: N.kv, hsm: N.hsm, k: 'k1', op: 'add', ra: crypto.randomUUID(),
    rd: crypto.randomUUID(), id: crypto.randomUUID(), ns: 'Microsoft.KeyVault', loc: LOC,
    location: LOC, tenant: TEN, file: 'app.js', st: 'current', s1: 'keys', s2: 'hk1', s3: 'x',
    name: hsm || host === 'vault' ? (method === 'PUT' || /create$/.test(pattern) ? ATK : hsm ? 'hk1' : 'k1') : N.pg,
    version: hsm ? S.hk1version : S.k1version,
  };
  if (/deleted(Vaults|ManagedHSMs)/.test(pattern)) { v.vault = `${N.kv}`; v.name = N.hsm; }
  if (/\/deletedkeys\/\{name\}/.test(pattern)) v.name = 'kdel';
  if (host === 'graph') v.id = S.adminOid;
  if (pattern.startsWith('/_cmksim/faults/')) v.vault = N.kv;
  return pattern.replace(/\{(\w+)\*?\}/g, (m, k) => {
    if (k === 'rest') return null;
    assert.ok(k in v, `no value for placeholder ${m} in ${pattern}: add it to fill()`);
    return v[k];
  });
}

// A body that would be accepted if the caller were allowed (so the refusal is the auth's).
function bodyFor(host, method, p) {
  if (!['POST', 'PUT', 'PATCH'].includes(method)) return undefined;
  const value = crypto.randomBytes(32).toString('base64url');
  if (host === 'vault' || host === 'hsm') {
    if (/\/create$/.test(p)) return { kty: host === 'hsm' ? 'RSA-HSM' : 'RSA', key_size: 2048 };
    if (/\/(wrapkey|unwrapkey|encrypt|decrypt)$/.test(p)) return { alg: 'RSA-OAEP-256', value };
    if (/\/sign$/.test(p)) return { alg: 'RS256', value };
    if (/\/verify$/.test(p)) return { alg: 'RS256', digest: value, value: S.signature };
    if (/\/restore$/.test(p)) return { value: S.backup };
    if (/rotationpolicy$/.test(p)) return { lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P90D' } };
    if (method === 'PUT' && /\/keys\//.test(p)) return { key: attackJwk };
    if (method === 'PATCH') return { attributes: { enabled: false } };
    if (/roleAssignments/.test(p)) return { properties: { roleDefinitionId: 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/a290e904-7015-4bba-90c8-60543313cdb4', principalId: S.adminOid } };
    if (/securitydomain/.test(p)) return { certificates: [], required: 2 };
    if (/\/rng$/.test(p)) return { count: 16 };
    if (/release$/.test(p)) return { target: 'x' };
    return {};
  }
  if (host === 'graph') return { ids: [S.adminOid] };
  if (p.startsWith('/_cmksim/clock/advance')) return { duration: '3650d' };
  if (p.startsWith('/_cmksim/clock/speed')) return { speed: 1000 };
  if (p.startsWith('/_cmksim/faults')) return { kind: 'vault-outage', vault: N.kv, duration: '1h' };
  if (p.startsWith('/_cmksim/dashboard/call')) return { method: 'GET', url: `https://${vaultHost(N.kv)}/keys?api-version=7.5` };
  if (/accessPolicies/.test(p)) return { properties: { accessPolicies: [{ tenantId: TEN, objectId: crypto.randomUUID(), permissions: { keys: ['all'] } }] } };
  if (/roleAssignments/.test(p)) return { properties: { roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/00482a5a-887f-4fb3-b363-3b7fe8e74483`, principalId: crypto.randomUUID() } };
  if (/checkNameAvailability|checkMhsmNameAvailability/i.test(p)) return { name: `${ATK}x`, type: 'Microsoft.KeyVault/vaults' };
  if (/resourcegroups\/[^/]+$/i.test(p)) return { location: LOC };
  return {};
}

const apiFor = (host, p) => {
  if (host === 'vault') return API.kv;
  if (host === 'hsm') return API.hsm;
  if (/Microsoft.DBforPostgreSQL/i.test(p)) return API.pg;
  if (/Microsoft.KeyVault/i.test(p)) return API.vaults;
  if (/Microsoft.ManagedIdentity/i.test(p)) return API.msi;
  if (/Microsoft.Authorization/i.test(p)) return API.authz;
  return API.rm;
};

function urlFor(host, p) {
  const h = { vault: vaultHost(N.kv), hsm: hsmHost(), mgmt: 'management.azure.com', login: 'login.microsoftonline.com',
    graph: 'graph.microsoft.com' }[host];
  if (host === 'graph' || host === 'login' || p.startsWith('/_cmksim') || p === '/msi/token' || p === '/') return `https://${h}${p}`;
  return `https://${h}${p}${p.includes('?') ? '&' : '?'}api-version=${apiFor(host, p)}`;
}

// Resource types behind the generic ARM routes, from the provider registry: each as its
// collection and one resource (an attack name), in a resource group and, for top-level types,
// at subscription scope; every method.
async function providerTargets() {
  const r = await ok('GET', arm(`/subscriptions/${SUB}/providers`, API.rm), { token: S.tok.mgmt });
  const out = [];
  for (const p of r.body.value) {
    for (const t of p.resourceTypes ?? []) {
      const types = t.resourceType.split('/');
      const existing = { 'Microsoft.KeyVault/vaults': N.kv, 'Microsoft.KeyVault/managedHSMs': N.hsm,
        'Microsoft.DBforPostgreSQL/flexibleServers': N.pg,
        'Microsoft.ManagedIdentity/userAssignedIdentities': S.mi['mi-wrap'].name }[`${p.namespace}/${types[0]}`];
      let base = `${p.namespace}/${types[0]}/${existing ?? ATK}`;
      for (const sub of types.slice(1)) base += `/${sub}/${ATK}`;
      const coll = base.slice(0, base.lastIndexOf('/'));
      for (const m of ['GET', 'PUT', 'PATCH', 'DELETE', 'POST']) out.push({ host: 'mgmt', method: m, pattern: `{generic ${t.resourceType}}`, path: rgPath(m === 'POST' ? `${base}/start` : base) });
      out.push({ host: 'mgmt', method: 'GET', pattern: `{generic ${t.resourceType} list}`, path: rgPath(coll) });
      if (types.length === 1) out.push({ host: 'mgmt', method: 'GET', pattern: `{generic ${t.resourceType} sub list}`, path: `/subscriptions/${SUB}/providers/${p.namespace}/${types[0]}` });
    }
    out.push({ host: 'mgmt', method: 'POST', pattern: `{generic ${p.namespace} register}`, path: `/subscriptions/${SUB}/providers/${p.namespace}/register` });
  }
  return out;
}

function routesFromLog() {
  const log = fs.readFileSync(path.join(c.data, 'serve.log'), 'utf8');
  const seen = new Map();
  for (const m of log.matchAll(/mod=router msg="route" host=(\S+) method=(\S+) pattern=(\S+)/g)) {
    seen.set(`${m[1]} ${m[2]} ${m[3]}`, { host: m[1], method: m[2], pattern: m[3] });
  }
  return [...seen.values()];
}

let targets;
test('the route table: every registered route has a family and a concrete request', async () => {
  const routes = routesFromLog();
  assert.ok(routes.length > 150, `only ${routes.length} routes in the log: is serve at --log-level debug?`);
  targets = [];
  for (const r of routes) {
    if (r.pattern.includes('{rest*}')) continue; // the generic ARM routes: providerTargets
    const methods = r.method === '*' ? ['GET', 'PUT', 'PATCH', 'DELETE', 'POST'] : [r.method];
    for (const m of methods) {
      const p = fill(r.host, m, r.pattern);
      targets.push({ ...r, method: m, path: p, family: family(r.host, m, r.pattern) });
    }
  }
  for (const t of await providerTargets()) targets.push({ ...t, family: 'arm' });
  const byFamily = {};
  for (const t of targets) byFamily[t.family] = (byFamily[t.family] ?? 0) + 1;
  console.log(`${routes.length} registered routes, ${targets.length} requests per case:`, JSON.stringify(byFamily));
  for (const h of ['vault', 'hsm', 'mgmt', 'login', 'graph']) assert.ok(routes.some((r) => r.host === h), `no ${h} routes`);
});

// ---- authentication: every route, every bad token ------------------------------------------

const audOf = (t) => ({ vault: 'vault', hsm: 'hsm', graph: 'graph', graphMe: 'graph', relay: 'vault' }[t.family] ?? 'mgmt');

// name -> (target) => Authorization header value (undefined: none sent)
function authCases() {
  const good = (t) => S.tok[audOf(t)];
  return {
    'no token': () => undefined,
    'not a JWT': () => 'Bearer not-a-token',
    'Basic scheme': () => `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`,
    'empty bearer': () => 'Bearer ',
    'signed by another key': (t) => `Bearer ${sec.signedByOtherKey(good(t))}`,
    'forged claims, another key': (t) => `Bearer ${sec.forgedFresh(good(t))}`,
    'alg none': (t) => `Bearer ${sec.algNone(good(t))}`,
    'alg none, signature kept': (t) => `Bearer ${sec.algNone(good(t), 'none', true)}`,
    'alg NONE': (t) => `Bearer ${sec.algNone(good(t), 'NONE')}`,
    'HS256 with the public key': (t) => `Bearer ${sec.hsWithPublicKey(good(t), S.jwksPem)}`,
    'claims of another principal': (t) => `Bearer ${sec.claimsSwapped(S.doomed[audOf(t)], good(t))}`,
    'wrong audience': (t) => `Bearer ${S.tok[audOf(t) === 'mgmt' ? 'vault' : 'mgmt']}`,
    'deleted identity': (t) => `Bearer ${S.doomed[audOf(t)]}`,
    'wrong tenant': (t) => `Bearer ${S.otherTok[audOf(t)]}`,
  };
}

// What each family must answer: [status, code RegExp]; 'scoped' = 200 without tenant A's data.
const ARM401 = /^(AuthenticationFailed|InvalidAuthenticationToken|ExpiredAuthenticationToken|InvalidAuthenticationTokenAudience)$/;
function expected(t, kase) {
  switch (t.family) {
  case 'vault': case 'hsm': return [401, /^Unauthorized$/];
  case 'arm': return kase === 'wrong tenant' ? [401, /^InvalidAuthenticationTokenTenant$/] : [401, ARM401];
  case 'armTenant': return kase === 'wrong tenant' ? ['scoped'] : [401, ARM401];
  case 'admin': return kase === 'wrong tenant' ? [403, /^AuthorizationFailed$/] : [401, ARM401];
  case 'auditShort': case 'dashToken': return [[401, 403], /./];
  case 'graph': return kase === 'wrong tenant' ? ['scoped'] : [401, /^InvalidAuthenticationToken$/];
  case 'graphMe': return [kase === 'wrong tenant' ? 400 : 401, /./];
  case 'relay': return ['relayed']; // the relay answers 200 with the vault's own refusal inside
  default: return null;
  }
}

async function runAuthCase(name, make, { expiredPhase = false } = {}) {
  const rows = targets.filter((t) => expected(t, name) !== null);
  const bad = [];
  const memo = new Map(); // one forged token per audience: signing is the client's slow part
  const makeOnce = (t) => {
    const k = audOf(t);
    if (!memo.has(k)) memo.set(k, make(t));
    return memo.get(k);
  };
  await sec.pool(rows, 12, async (t) => {
    const a = makeOnce(t);
    const headers = a === undefined ? {} : { authorization: a };
    if (t.family === 'dashToken') headers['sec-fetch-site'] = 'cross-site';
    let r;
    try {
      r = await req(t.method, urlFor(t.host, t.path), { headers, body: bodyFor(t.host, t.method, t.path) });
    } catch (e) {
      bad.push(`${name}: ${t.method} ${t.host} ${t.pattern} -> ${e.code ?? e}`);
      return;
    }
    const [st, cre] = expected(t, name);
    const desc = `${name}: ${t.method} ${t.host} ${t.pattern} -> ${r.status} ${String(code(r)).slice(0, 60)} ${inner(r)}`;
    if (st === 'relayed') {
      if (r.status !== 200 || r.body?.status !== 401) bad.push(`${desc} inner ${r.body?.status}`);
      return;
    }
    if (st === 'scoped') {
      if (r.status >= 200 && r.status < 300 && (r.text.includes(SUB) || r.text.includes(S.adminOid))) bad.push(`${desc}: another tenant's data`);
      else if (r.status >= 500) bad.push(desc);
    } else if (!(Array.isArray(st) ? st : [st]).includes(r.status) || !cre.test(String(code(r)))) {
      if (!(t.method === 'HEAD' && r.status === st)) bad.push(desc);
    }
    if (r.status >= 200 && r.status < 300 && st !== 'scoped') bad.push(`SUCCEEDED ${desc}`);
  });
  S.counts[name] = rows.length;
  if (!expiredPhase) assert.deepEqual(bad, [], `${bad.length} of ${rows.length} requests`);
  return bad;
}

test('authentication: every route refuses every bad token', async () => {
  const cases = authCases();
  const all = [];
  for (const [name, make] of Object.entries(cases)) {
    const bad = await runAuthCase(name, make, { expiredPhase: true });
    all.push(...bad);
  }
  assert.deepEqual(all, [], `${all.length} unexpected answers`);
  console.log('requests per case:', JSON.stringify(S.counts));
  console.log('mean ms:', JSON.stringify(Object.entries(S.timing).map(([k, v]) => [k, v.n, +(v.ms / v.n).toFixed(1)])));
});

test('expired tokens: every route refuses them after the clock passes their exp (+ skew)', async () => {
  const old = { ...S.tok };
  const before = (await ok('GET', `${MGMT}/_cmksim/clock`, { token: S.tok.mgmt })).body.timeMs;
  await ok('POST', `${MGMT}/_cmksim/clock/advance`, { token: S.tok.mgmt, body: { duration: '70m' } });
  const after = (await ok('GET', `${MGMT}/_cmksim/clock`, { token: await c.token(`${AUD.mgmt}/.default`) })).body.timeMs;
  assert.ok(after - before >= 70 * 60000);
  const bad = await runAuthCase('expired', (t) => `Bearer ${old[audOf(t)]}`, { expiredPhase: true });
  S.tok = await tokensFor((aud) => c.token(`${aud}/.default`));
  S.lackTok = await msiToken(S.mi['mi-lack'], AUD.vault);
  S.noroleTok = { vault: await msiToken(S.mi['mi-norole'], AUD.vault), hsm: await msiToken(S.mi['mi-norole'], AUD.hsm) };
  assert.deepEqual(bad, []);
});

test('the managed identity endpoint: header, api-version, identity, deleted identity', async () => {
  const base = `${MGMT}/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(AUD.vault)}`;
  const hdr = { 'x-identity-header': process.env.IDENTITY_HEADER };
  const mi = S.mi['mi-wrap'];
  const rows = [
    ['no header', `${base}&mi_res_id=${encodeURIComponent(mi.id)}`, {}, 401],
    ['wrong header', `${base}&mi_res_id=${encodeURIComponent(mi.id)}`, { 'x-identity-header': '0'.repeat(64) }, 401],
    ['header one char short', `${base}&mi_res_id=${encodeURIComponent(mi.id)}`, { 'x-identity-header': process.env.IDENTITY_HEADER.slice(0, -1) }, 401],
    ['header as query', `${base}&mi_res_id=${encodeURIComponent(mi.id)}&x-identity-header=${process.env.IDENTITY_HEADER}`, {}, 401],
    ['no identity named', base, hdr, 400],
    ['unknown client id', `${base}&client_id=${crypto.randomUUID()}`, hdr, 400],
    ['deleted identity', `${base}&mi_res_id=${encodeURIComponent(S.mi['mi-doomed'].id)}`, hdr, 400],
    ['deleted identity by client id', `${base}&client_id=${S.mi['mi-doomed'].clientId}`, hdr, 400],
    ['wrong api-version', `${MGMT}/msi/token?api-version=2017-09-01&resource=${AUD.vault}&mi_res_id=${encodeURIComponent(mi.id)}`, hdr, 400],
    ['the admin service principal', `${base}&client_id=${c.clientId}`, hdr, 400],
  ];
  const bad = [];
  for (const [name, u, headers, st] of rows) {
    const r = await req('GET', u, { headers });
    if (r.status !== st || r.body?.access_token) bad.push(`${name}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  assert.deepEqual(bad, []);
});

test('login: bad client credentials, other tenants, grants that are not offered', async () => {
  const form = (o) => ({ body: new URLSearchParams(o).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const cc = { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret, scope: `${AUD.vault}/.default` };
  const rows = [
    ['wrong secret', TEN, { ...cc, client_secret: 'nope' }, 401, 'invalid_client'],
    ['secret of another principal', TEN, { ...cc, client_secret: OTHER.secret }, 401, 'invalid_client'],
    ['empty secret', TEN, { ...cc, client_secret: '' }, [400, 401], /invalid_(client|request)/],
    ['unknown client', TEN, { ...cc, client_id: crypto.randomUUID() }, [400, 401], /invalid_client|unauthorized_client/],
    ['client of another tenant', TEN, { ...cc, client_id: S.other.clientId, client_secret: OTHER.secret }, [400, 401], /invalid_client|unauthorized_client/],
    ['unknown tenant', crypto.randomUUID(), cc, [400, 404], /invalid_(tenant|request)|tenant/],
    ['managed identity as a client', TEN, { ...cc, client_id: S.mi['mi-wrap'].clientId }, [400, 401], /invalid_client|unauthorized_client/],
    ['password grant', TEN, { ...cc, grant_type: 'password', username: 'a', password: 'b' }, 400, /unsupported_grant_type|invalid_request/],
    ['no grant', TEN, { client_id: c.clientId, client_secret: c.clientSecret, scope: cc.scope }, 400, /unsupported_grant_type|invalid_request/],
  ];
  const bad = [];
  for (const [name, tenant, body, st, re] of rows) {
    const opts = body ? form(body) : { body: `${new URLSearchParams(cc)}&client_secret=nope`, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    for (const p of ['oauth2/v2.0/token', 'oauth2/token']) {
      const r = await req('POST', `${LOGIN}/${tenant}/${p}`, p === 'oauth2/token' && body ? form({ ...body, resource: AUD.vault }) : opts);
      const sts = Array.isArray(st) ? st : [st];
      if (!sts.includes(r.status) || !new RegExp(re).test(String(r.body?.error ?? '')) || r.body?.access_token)
        bad.push(`${name} ${p}: ${r.status} ${r.text.slice(0, 160)}`);
    }
  }
  // GET on the token endpoint never issues one (the secret would be in a URL and in logs)
  const g = await req('GET', `${LOGIN}/${TEN}/oauth2/v2.0/token?${new URLSearchParams(cc)}`);
  if (g.status < 400 || g.body?.access_token) bad.push(`GET token: ${g.status}`);
  assert.deepEqual(bad, []);
});

// ---- authorisation: key permissions, RBAC, local RBAC ---------------------------------------

// The permission each keys route needs (access-policy vaults).
function permOf(method, pattern) {
  const p = pattern;
  if (p === '/keys' || p === '/keys/{name}/versions' || p === '/deletedkeys') return 'list';
  if (method === 'GET' && (p === '/keys/{name}' || p === '/keys/{name}/{version}' || p === '/deletedkeys/{name}')) return 'get';
  if (method === 'PUT' && p === '/keys/{name}') return 'import';
  if (method === 'PATCH') return 'update';
  if (method === 'DELETE' && p === '/keys/{name}') return 'delete';
  if (method === 'DELETE' && p === '/deletedkeys/{name}') return 'purge';
  if (p === '/deletedkeys/{name}/recover') return 'recover';
  if (p === '/keys/restore') return 'restore';
  if (p === '/keys/{name}/rotationpolicy') return method === 'GET' ? 'getrotationpolicy' : 'setrotationpolicy';
  const m = p.match(/\/(create|backup|rotate|encrypt|decrypt|wrapkey|unwrapkey|sign|verify|release)$/);
  if (m) return { wrapkey: 'wrapKey', unwrapkey: 'unwrapKey' }[m[1]] ?? m[1];
  return null; // /rng: random bytes need no key permission on a vault (only a valid token)
}
const permRows = () => targets.filter((t) => t.family === 'vault' && permOf(t.method, t.pattern) !== null);

async function setPolicy(vaultName, oid, perms) {
  await ok('PUT', arm(rgPath(`Microsoft.KeyVault/vaults/${vaultName}/accessPolicies/replace`), API.vaults),
    { token: S.tok.mgmt, body: { properties: { accessPolicies: [{ tenantId: TEN, objectId: oid, permissions: { keys: perms } }] } } });
}

test('missing permission: each key permission taken away in turn refuses exactly its routes', async () => {
  const vaultRows = permRows();
  const perms = [...new Set(vaultRows.map((t) => permOf(t.method, t.pattern)).filter(Boolean))];
  assert.ok(perms.length >= 18, `permissions covered: ${perms}`);
  const bad = [];
  let requests = 0;
  for (const perm of perms) {
    await setPolicy(N.kv, S.mi['mi-lack'].principalId, ALL_PERMS.filter((p) => p !== perm));
    const rows = vaultRows.filter((t) => permOf(t.method, t.pattern) === perm);
    for (const t of rows) {
      const r = await req(t.method, urlFor('vault', t.path), { token: S.lackTok, body: bodyFor('vault', t.method, t.path) });
      requests++;
      if (r.status !== 403 || code(r) !== 'Forbidden' || inner(r) !== 'ForbiddenByPolicy')
        bad.push(`without ${perm}: ${t.method} ${t.pattern} -> ${r.status} ${code(r)} ${inner(r)}`);
    }
    // and the principal is otherwise allowed: a read it still may do succeeds
    const probe = perm === 'get' ? ['GET', '/keys'] : ['GET', '/keys/k1'];
    const r = await req(probe[0], kv(N.kv, probe[1]), { token: S.lackTok });
    if (r.status !== 200) bad.push(`without ${perm}, ${probe.join(' ')} should work: ${r.status} ${r.text.slice(0, 200)}`);
  }
  // no permission at all: every route
  await setPolicy(N.kv, S.mi['mi-lack'].principalId, []);
  for (const t of vaultRows) {
    const r = await req(t.method, urlFor('vault', t.path), { token: S.lackTok, body: bodyFor('vault', t.method, t.path) });
    requests++;
    if (r.status !== 403 || code(r) !== 'Forbidden') bad.push(`no permissions: ${t.method} ${t.pattern} -> ${r.status} ${code(r)}`);
  }
  console.log(`${perms.length} permissions, ${requests} requests`);
  assert.deepEqual(bad, []);
});

test('RBAC vault: a caller without a role is refused on every keys route (even the vault\'s creator)', async () => {
  const bad = [];
  for (const who of ['noRole', 'admin']) {
    const tok = who === 'admin' ? S.tok.vault : S.noroleTok.vault;
    for (const t of permRows()) {
      const r = await req(t.method, `https://${vaultHost(N.rbac)}${t.path}?api-version=${API.kv}`, { token: tok, body: bodyFor('vault', t.method, t.path) });
      if (r.status !== 403 || code(r) !== 'Forbidden' || inner(r) !== 'ForbiddenByRbac') bad.push(`${who}: ${t.method} ${t.pattern} -> ${r.status} ${code(r)} ${inner(r)}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('managed HSM: a caller without a local role is refused on every route', async () => {
  const bad = [];
  for (const t of targets.filter((x) => x.family === 'hsm')) {
    const r = await req(t.method, urlFor('hsm', t.path), { token: S.noroleTok.hsm, body: bodyFor('hsm', t.method, t.path) });
    // a three-segment scope is not a valid HSM scope: refused as such before any role is looked at
    const scopeRoute = t.pattern.startsWith('/{s1}/{s2}/{s3}/');
    if (scopeRoute ? r.status !== 400 : r.status !== 403 || !/Forbidden/.test(code(r))) bad.push(`${t.method} ${t.pattern} -> ${r.status} ${code(r)} ${inner(r)}`);
  }
  assert.deepEqual(bad, []);
});

// ---- network rules ---------------------------------------------------------------------------

test('firewall: deny with and without the bypass, public access disabled; forged forwarding headers change nothing', async () => {
  const bad = [];
  const forged = [{}, { 'x-forwarded-for': '10.1.2.3' }, { forwarded: 'for=10.1.2.3' }, { 'x-real-ip': '10.1.2.3' },
    { 'x-ms-client-ip': '10.1.2.3' }, { 'x-client-ip': '10.1.2.3' }];
  const cases = [[N.fw, 'ForbiddenByFirewall'], [N.fwnb, 'ForbiddenByFirewall'], [N.pna, 'ForbiddenByConnection']];
  let n = 0;
  for (const [v, want] of cases) {
    for (const t of targets.filter((x) => x.family === 'vault')) {
      for (const headers of forged) {
        if (Object.keys(headers).length && t.method !== 'GET' && !/wrapkey|unwrapkey/.test(t.pattern)) continue;
        const r = await req(t.method, `https://${vaultHost(v)}${t.path}?api-version=${API.kv}`, { token: S.tok.vault, headers, body: bodyFor('vault', t.method, t.path) });
        n++;
        if (r.status !== 403 || inner(r) !== want) bad.push(`${v} ${JSON.stringify(headers)}: ${t.method} ${t.pattern} -> ${r.status} ${code(r)} ${inner(r)}`);
      }
    }
    // the dashboard's relay keeps the caller's address: the vault refuses it the same way
    const r = await req('POST', `${MGMT}/_cmksim/dashboard/call`, { token: S.tok.vault, body: { method: 'GET', url: `https://${vaultHost(v)}/keys?api-version=${API.kv}` } });
    if (r.status === 200 && r.body?.status !== 403) bad.push(`relay into ${v}: ${r.text.slice(0, 200)}`);
    if (r.status >= 500) bad.push(`relay into ${v}: ${r.status}`);
  }
  console.log(`${n} firewall requests`);
  assert.deepEqual(bad, []);
});

test('wrong tenant, vault side: a vault of another tenant refuses this tenant\'s valid tokens', async () => {
  const bad = [];
  for (const t of targets.filter((x) => x.family === 'vault')) {
    const r = await req(t.method, `https://${vaultHost(N.foreign)}${t.path}?api-version=${API.kv}`, { token: S.tok.vault, body: bodyFor('vault', t.method, t.path) });
    if (r.status !== 401 || code(r) !== 'Unauthorized') bad.push(`${t.method} ${t.pattern} -> ${r.status} ${code(r)} ${inner(r)}`);
  }
  assert.deepEqual(bad, []);
});

// ---- key state -----------------------------------------------------------------------------

test('disabled, expired and not-yet-valid keys: no crypto operation succeeds', async () => {
  const bad = [];
  const ops = targets.filter((t) => t.family === 'vault' && /\/(encrypt|decrypt|wrapkey|unwrapkey|sign|verify)$/.test(t.pattern) && !t.pattern.includes('{version}'));
  for (const k of ['kdis', 'kexp', 'knbf']) {
    const ver = S.versions[k];
    for (const t of ops) {
      for (const p of [t.path.replace('/keys/k1/', `/keys/${k}/`), t.path.replace('/keys/k1/', `/keys/${k}/${ver}/`)]) {
        const r = await req('POST', kv(N.kv, p), { token: S.tok.vault, body: bodyFor('vault', 'POST', p) });
        // Key Vault keeps decrypt, unwrapKey and verify open on an expired or not-yet-valid key
        // (existing data stays readable); a disabled key does nothing at all.
        const open = k !== 'kdis' && /\/(decrypt|unwrapkey|verify)$/.test(p);
        if (open ? r.status === 403 || r.status >= 500 : r.status !== 403 || code(r) !== 'Forbidden')
          bad.push(`${k}: POST ${p} -> ${r.status} ${code(r)} ${r.text.slice(0, 120)}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

// ---- bodies, heads, paths --------------------------------------------------------------------

const tokenFor = (t) => ({ vault: S.tok.vault, hsm: S.tok.hsm, graph: S.tok.graph, graphMe: S.tok.graph }[t.family] ?? S.tok.mgmt);

test('malformed bodies: every route that takes one answers 4xx with its error envelope, never 5xx', async () => {
  const bodies = {
    'truncated JSON': '{"value": "abc',
    'not JSON': 'value=abc',
    'JSON array': '[]',
    'JSON string': '"x"',
    'JSON null': 'null',
    'wrong types': '{"kty": 7, "key_size": "big", "value": 1, "alg": [], "location": {}, "properties": "x", "attributes": 5, "duration": {}, "method": 1, "url": 2}',
    'invalid UTF-8': Buffer.from([0x7b, 0x22, 0x76, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]),
    'deep nesting': '['.repeat(100000),
    'huge number': `{"key_size": 1${'0'.repeat(400)}, "duration": "9999999999999999999d", "speed": 1e309}`,
    'NUL inside': '{"value": "a\\u0000b", "duration": "1\\u0000h", "kty": "RSA\\u0000"}',
    'duplicate keys': '{"kty": "RSA", "kty": "EC"}',
  };
  // Routes that read no body (actions) are left out: the admin's call would simply act.
  const bodyless = /\/(rng|recover|backup|rotate|restart|start|stop|revalidateDataEncryption|register|pending)$/;
  const rows = targets.filter((t) => ['POST', 'PUT', 'PATCH'].includes(t.method) &&
    !['public', 'msi', 'dashToken'].includes(t.family) && !bodyless.test(t.path));
  const bad = [];
  let n = 0;
  await sec.pool(rows, 8, async (t) => {
    for (const [name, b] of Object.entries(bodies)) {
      // the admin's calls work on names of their own (kmal, ATKm), never on what is checked later
      const u = urlFor(t.host, t.path.replace(ATK, `${ATK}m`).replace('/keys/k1/', '/keys/kmal/').replace(/\/keys\/k1$/, '/keys/kmal'));
      let r;
      try {
        r = await sec.rawRequest(t.method, u, { token: tokenFor(t), body: Buffer.from(b) });
      } catch (e) {
        bad.push(`${name}: ${t.method} ${t.pattern} -> ${e.code ?? e}`);
        continue;
      }
      n++;
      S.responses.push(Buffer.from(r.text));
      const enveloped = typeof r.body === 'object' && r.body !== null && (r.body.error || r.body.code);
      if (r.status >= 500 || (r.status >= 400 && !enveloped))
        bad.push(`${name}: ${t.method} ${t.pattern} -> ${r.status} ${r.text.slice(0, 160)}`);
      else if (r.status < 400 && !['duplicate keys', 'wrong types', 'NUL inside'].includes(name) && t.family !== 'graph' && t.family !== 'relay')
        bad.push(`${name}: ${t.method} ${t.pattern} accepted -> ${r.status} ${r.text.slice(0, 160)}`);
    }
  });
  console.log(`${n} malformed-body requests`);
  assert.deepEqual(bad, []);
});

test('oversized bodies are 413 on every host; oversized heads 431; the server stays up', async () => {
  const big = Buffer.alloc(1024 * 1024 + 10, 0x61);
  const bad = [];
  const hosts = [vaultHost(N.kv), hsmHost(), 'management.azure.com', 'login.microsoftonline.com', 'graph.microsoft.com'];
  for (const h of hosts) {
    const head = `POST /keys/k1/wrapkey?api-version=7.5 HTTP/1.1\r\nHost: ${h}\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n`;
    const out = await sec.rawTls(h, [Buffer.from(head), big]);
    if (!/^HTTP\/1\.1 413 /.test(out)) bad.push(`${h} body: ${out.slice(0, 80)}`);
    const hugeHead = `GET /keys?api-version=7.5 HTTP/1.1\r\nHost: ${h}\r\nX-Pad: ${'b'.repeat(20000)}\r\n\r\n`;
    const out2 = await sec.rawTls(h, Buffer.from(hugeHead));
    if (!/^HTTP\/1\.1 431 /.test(out2)) bad.push(`${h} head: ${out2.slice(0, 80)}`);
    const many = `GET /keys?api-version=7.5 HTTP/1.1\r\nHost: ${h}\r\n${Array.from({ length: 3000 }, (_, i) => `X-${i}: y`).join('\r\n')}\r\n\r\n`;
    const out3 = await sec.rawTls(h, Buffer.from(many));
    if (!/^HTTP\/1\.1 (431|400) /.test(out3)) bad.push(`${h} many headers: ${out3.slice(0, 80)}`);
    const chunked = `POST /keys/k1/wrapkey?api-version=7.5 HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n`;
    const out4 = await sec.rawTls(h, Buffer.from(chunked));
    if (!/^HTTP\/1\.1 (400|413) /.test(out4)) bad.push(`${h} chunked: ${out4.slice(0, 80)}`);
    const smuggle = `POST /keys?api-version=7.5 HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /keys?api-version=7.5 HTTP/1.1\r\nHost: ${h}\r\n\r\n`;
    const out5 = await sec.rawTls(h, Buffer.from(smuggle));
    if (!/^HTTP\/1\.1 400 /.test(out5)) bad.push(`${h} CL+TE: ${out5.slice(0, 80)}`);
    const garbage = await sec.rawTls(h, Buffer.from('\x16\x03\x01 GARBAGE \r\n\r\n'));
    if (!/^HTTP\/1\.1 400 /.test(garbage)) bad.push(`${h} garbage: ${garbage.slice(0, 80)}`);
    S.responses.push(Buffer.from(out + out2 + out3 + out4 + out5 + garbage));
  }
  const h = await req('GET', `${MGMT}/_cmksim/health`);
  assert.equal(h.status, 200);
  assert.deepEqual(bad, []);
});

test('path tricks: traversal, encoded slashes, NUL, other hosts\' names', async () => {
  const bad = [];
  const rows = [
    ['GET', `${MGMT}/_cmksim/dashboard/..%2f..%2f..%2f..%2fetc%2fpasswd`, S.tok.mgmt, [400, 404]],
    ['GET', `${MGMT}/_cmksim/dashboard/../../state.db`, S.tok.mgmt, [400, 404]],
    ['GET', `${MGMT}/_cmksim/dashboard/%2e%2e%2fserve.json`, S.tok.mgmt, [400, 404]],
    ['GET', `${MGMT}/_cmksim/dashboard/app.js%00.html`, S.tok.mgmt, [400, 404]],
    ['GET', kv(N.kv, '/keys/..%2F..%2Fkeys%2Fk1'), S.tok.vault, [400, 404]],
    ['GET', kv(N.kv, '/keys/k1%00'), S.tok.vault, [400, 404]],
    ['GET', `https://${vaultHost(`${N.kv}%2e..`)}/keys?api-version=7.5`, S.tok.vault, [400, 404, 421]],
    ['GET', `https://${vaultHost(N.kv)}/subscriptions/${SUB}/resourcegroups?api-version=${API.rm}`, S.tok.mgmt, [400, 401, 404, 405]],
    ['GET', `${MGMT}/keys/k1?api-version=7.5`, S.tok.vault, [400, 401, 404]],
  ];
  for (const [m, u, token, want] of rows) {
    let r;
    try { r = await req(m, u, { token }); } catch (e) { continue; } // refused at the socket: fine
    if (!want.includes(r.status)) bad.push(`${m} ${u} -> ${r.status} ${r.text.slice(0, 100)}`);
    if (/root:x:0:0|"pid"|SQLite format/.test(r.text)) bad.push(`${u} leaked a file`);
  }
  // the relay only reaches vaults and HSMs, whatever the URL looks like
  for (const url of [`https://management.azure.com/subscriptions/${SUB}/resourcegroups?api-version=${API.rm}`,
    `https://management.azure.com#.vault.azure.net/subscriptions/${SUB}/resourcegroups?api-version=${API.rm}`,
    `https://${vaultHost(N.kv)}@management.azure.com/_cmksim/clock`, 'http://169.254.169.254/metadata/identity',
    `https://example.com/.vault.azure.net/keys`]) {
    const r = await req('POST', `${MGMT}/_cmksim/dashboard/call`, { token: S.tok.mgmt, body: { method: 'GET', url } });
    if (r.status === 200 && r.body?.status >= 200 && r.body?.status < 300) bad.push(`relay reached ${url}: ${r.text.slice(0, 160)}`);
    if (r.status >= 500) bad.push(`relay ${url}: ${r.status}`);
  }
  assert.deepEqual(bad, []);
});

test('the dashboard token: never to a cross-site browser request', async () => {
  const bad = [];
  for (const site of ['cross-site', 'same-site']) {
    const r = await req('POST', `${MGMT}/_cmksim/dashboard/token`, { headers: { 'sec-fetch-site': site } });
    if (r.status !== 403 || r.body?.tokens || /eyJ/.test(r.text)) bad.push(`${site}: ${r.status} ${r.text.slice(0, 120)}`);
  }
  assert.deepEqual(bad, []);
});

// ---- the CONNECT proxy -----------------------------------------------------------------------

test('CONNECT: only cmksim\'s own hosts on 443; nothing else is tunnelled', async () => {
  const bad = [];
  const pgPort = c.serveInfo().postgres.split(':').pop();
  const rows = [
    ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', /^HTTP\/1\.1 403 /],
    ['CONNECT 1.1.1.1:443 HTTP/1.1\r\nHost: 1.1.1.1:443\r\n\r\n', /^HTTP\/1\.1 403 /],
    ['CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n', /^HTTP\/1\.1 403 /],
    // cmksim's own PostgreSQL listener is one of its hosts: tunnelled by design
    [`CONNECT 127.0.0.1:${pgPort} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, /^HTTP\/1\.1 200 /],
    [`CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, /^HTTP\/1\.1 403 /],
    ['CONNECT localhost:6379 HTTP/1.1\r\nHost: localhost\r\n\r\n', /^HTTP\/1\.1 403 /],
    ['CONNECT management.azure.com:80 HTTP/1.1\r\nHost: management.azure.com\r\n\r\n', /^HTTP\/1\.1 403 /],
    ['CONNECT management.azure.com.evil.example:443 HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 403 /],
    ['CONNECT evil.example#.vault.azure.net:443 HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 (400|403) /],
    ['CONNECT [::1]:22 HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 (400|403) /],
    ['GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n', /^HTTP\/1\.1 403 /],
    ['GET http://management.azure.com/_cmksim/clock HTTP/1.1\r\nHost: management.azure.com\r\n\r\n', /^HTTP\/1\.1 403 /],
    ['CONNECT management.azure.com:443 HTTP/1.1\r\nHost: management.azure.com:443\r\n\r\n', /^HTTP\/1\.1 200 /],
  ];
  for (const [raw, want] of rows) {
    const out = await sec.rawProxy(raw, 1500);
    if (!want.test(out)) bad.push(`${raw.split('\r\n')[0]} -> ${out.slice(0, 100)}`);
  }
  assert.deepEqual(bad, []);
});

// ---- the PostgreSQL endpoint -----------------------------------------------------------------

test('PostgreSQL: wrong password, unknown user, unknown server name are refused', async () => {
  const bad = [];
  for (const [name, opts, want] of [['wrong password', { password: 'nope' }, '28P01'], ['unknown user', { user: 'mallory' }, '28P01']]) {
    const e = await pgClient(opts).then((cl) => cl.end().then(() => null), (x) => x);
    if (!e || e.code !== want) bad.push(`${name}: ${e ? e.code : 'connected'}`);
  }
  const cl = new pgdriver.Client({ host: '127.0.0.1', port: Number(c.serveInfo().postgres.split(':').pop()), user: 'pgadmin',
    password: PASSWORD, database: 'postgres', ssl: { ca: c.ca, servername: `nosuch${tag}.postgres.database.azure.com` } });
  const e = await cl.connect().then(() => cl.end().then(() => null), (x) => x);
  if (!e) bad.push('unknown server name: connected');
  assert.deepEqual(bad, []);
});

// ---- afterwards: nothing an attack tried is there ---------------------------------------------

test('none of the refused writes happened', async () => {
  const t = { token: S.tok.vault };
  assert.equal((await req('GET', kv(N.kv, `/keys/${ATK}`), t)).status, 404, 'no key created by an attack');
  const k1 = await ok('GET', kv(N.kv, '/keys/k1'), t);
  assert.equal(k1.body.attributes.enabled, true, 'k1 not disabled');
  const versions = await ok('GET', kv(N.kv, '/keys/k1/versions'), t);
  assert.equal(versions.body.value.length, 1, 'k1 not rotated');
  assert.equal((await req('GET', kv(N.kv, '/deletedkeys/kdel'), t)).status, 200, 'kdel neither purged nor recovered');
  assert.equal((await req('GET', kv(N.kv, '/keys/kdel'), t)).status, 404, 'kdel not recovered');
  const hk = await req('GET', `https://${hsmHost()}/keys/${ATK}?api-version=${API.hsm}`, { token: S.tok.hsm });
  assert.equal(hk.status, 404, 'no HSM key created by an attack');
  const clock = await ok('GET', `${MGMT}/_cmksim/clock`, { token: S.tok.mgmt });
  assert.ok(clock.body.timeMs < Date.now() + 2 * 86400000, `the clock was not moved by 3650d: ${clock.body.time}`);
  assert.equal(clock.body.speed, 1, 'the clock speed was not changed');
  const faults = await ok('GET', `${MGMT}/_cmksim/faults`, { token: S.tok.mgmt });
  assert.equal(JSON.stringify(faults.body).includes(N.kv), false, `no fault injected: ${faults.text}`);
  const v = await ok('GET', arm(rgPath(`Microsoft.KeyVault/vaults/${N.kv}`), API.vaults), { token: S.tok.mgmt });
  const known = new Set([S.adminOid, ...Object.values(S.mi).map((m) => m.principalId)]);
  for (const p of v.body.properties.accessPolicies) assert.ok(known.has(p.objectId), `access policy for ${p.objectId} added by an attack`);
  const ras = await ok('GET', arm(`/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments`, API.authz), { token: S.tok.mgmt });
  for (const a of ras.body.value ?? []) assert.ok(known.has(a.properties.principalId), `role assignment for ${a.properties.principalId}`);
  const res = await ok('GET', arm(`/subscriptions/${SUB}/resources`, API.rm), { token: S.tok.mgmt });
  assert.deepEqual(res.body.value.filter((r) => r.name.includes(ATK)).map((r) => r.id), [], 'resources created by attacks');
  assert.equal((await req('GET', arm(`/subscriptions/${SUB}/resourcegroups/${RG}`, API.rm), { token: S.tok.mgmt })).status, 200);
  const srv = await ok('GET', arm(rgPath(`Microsoft.DBforPostgreSQL/flexibleServers/${N.pg}`), API.pg), { token: S.tok.mgmt });
  assert.equal(srv.body.properties.state, 'Ready', 'the server was not stopped or restarted by an attack');
  assert.equal((await req('GET', arm(rgPath(`Microsoft.ManagedIdentity/userAssignedIdentities/${S.mi['mi-doomed'].name}`), API.msi), { token: S.tok.mgmt })).status, 404);
});

// ---- afterwards: secrets ----------------------------------------------------------------------

test('no private key, DEK, wrapped secret or inserted plaintext in the state directory, the log, the event stream or any answer', async () => {
  // the data plane's DEKs, unwrapped by the admin: what must never be on disk in clear
  const env = JSON.parse(fs.readFileSync(path.join(c.data, 'servers', N.pg, 'envelope.json'), 'utf8'));
  const deks = [];
  for (const d of env.deks) {
    // c.request, not req: this answer carries the DEK and is not one of the matrix's
    const r = await c.request('POST', `${d.wrapped.kid}/unwrapkey?api-version=${API.kv}`, { token: S.tok.vault, body: { alg: 'RSA-OAEP-256', value: d.wrapped.value } });
    assert.equal(r.status, 200, r.text);
    deks.push(Buffer.from(r.body.value, 'base64url'));
  }
  assert.ok(deks.length >= 1 && deks.every((k) => k.length === 32), 'the server has AES-256 DEKs');
  // restart the server so the WAL reaches the database files, and the log is complete
  await ok('POST', arm(rgPath(`Microsoft.DBforPostgreSQL/flexibleServers/${N.pg}/restart`), API.pg), { token: S.tok.mgmt }, [200, 202]);
  await sec.sleep(300);
  S.events.req.destroy();
  const secrets = [
    ...['d', 'p', 'q', 'dp', 'dq', 'qi'].map((f) => ({ what: `imported key ${f}`, bytes: Buffer.from(knownJwk[f], 'base64url') })),
    { what: 'imported key (DER)', bytes: knownKey.export({ type: 'pkcs1', format: 'der' }).subarray(-200) },
    ...deks.map((k, i) => ({ what: `DEK ${i}`, bytes: k })),
    { what: 'wrapped secret', bytes: WRAPPED_SECRET },
    { what: 'encrypted plaintext', bytes: ENCRYPTED_SECRET },
    { what: 'inserted row', bytes: Buffer.from(`${MARKER}-row`) },
    { what: 'the second tenant\'s client secret', bytes: Buffer.from(OTHER.secret) },
    { what: 'PostgreSQL admin password', bytes: Buffer.from(PASSWORD) },
  ];
  const files = sec.walk(c.data).filter((f) => !f.dir);
  const hay = files.map((f) => ({ name: path.relative(c.data, f.path), data: fs.readFileSync(f.path) }));
  hay.push({ name: 'event stream', data: Buffer.concat(S.events.chunks) });
  hay.push({ name: 'responses to the matrix', data: Buffer.concat(S.responses) });
  assert.ok(Buffer.concat(S.events.chunks).length > 0, `the event stream said something (status ${S.eventsStatus})`);
  const hits = sec.findSecrets(hay, secrets);
  console.log(`scanned ${files.length} files (${hay.reduce((n, h) => n + h.data.length, 0)} bytes), ${secrets.length} secrets`);
  assert.deepEqual(hits, []);
  // the emulator's own private keys (token signing, TLS CA and leaves) are sealed under the root
  // key too: no file under the state directory holds a PEM private key
  const pemKeys = hay.slice(0, files.length).filter((h) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(h.data.toString('latin1'))).map((h) => h.name);
  assert.deepEqual(pemKeys, [], 'a private key in clear (PEM) under the state directory');
  // the scan can find things: the known key's DER is in a file written for the purpose
  assert.equal(sec.findSecrets([{ name: 'probe', data: Buffer.from(`x${knownJwk.d}y`) }], secrets.slice(0, 1)).length, 1);
});

test('every file that holds a secret is mode 0600, every directory 0700', () => {
  const bad = [];
  for (const f of sec.walk(c.data)) {
    const rel = path.relative(c.data, f.path);
    const mode = fs.statSync(f.path).mode & 0o777;
    if (rel === 'serve.log') continue; // written by the test harness's shell, not by cmksim
    if (f.dir) { if (mode & 0o077) bad.push(`${rel}/ ${mode.toString(8)}`); continue; }
    if (/^tls\/[^/]+\.pem$/.test(rel)) continue; // certificates are public
    if (mode & 0o077) bad.push(`${rel} ${mode.toString(8)}`);
  }
  assert.deepEqual(bad, []);
});
