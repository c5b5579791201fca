// dp.js: what the data plane tests share: the real Azure SDKs (through cmksim's proxy, as in
// tests/clients) to arrange identities, vaults, keys and servers; psql, pgbench and
// node-postgres sessions against an emulated server on the shared SNI-routed port; the clock
// route; and a scan of the state directory. Tests run under tests/clients/with-serve.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync, spawn } = require('node:child_process');
const { createRequire } = require('node:module');

const clientsDir = path.join(__dirname, '..', '..', 'clients');
const need = createRequire(path.join(clientsDir, 'package.json'));
const c = require(path.join(clientsDir, 'lib', 'cmksim'));
const { adminCredential, uniqueName, rejects } = require(path.join(clientsDir, 'lib', 'azure'));
const pgdriver = need('pg');
const { KeyClient } = need('@azure/keyvault-keys');
const { KeyVaultManagementClient } = need('@azure/arm-keyvault');
const { ManagedServiceIdentityClient } = need('@azure/arm-msi');
const { ResourceManagementClient } = need('@azure/arm-resources');
const { PostgreSQLManagementFlexibleServerClient } = need('@azure/arm-postgresql-flexible');

let cred;
const arm = {};
// New credential and clients: the SDKs cache tokens by the wall clock, so after the emulator's
// clock jumps past their expiry they must be asked for again.
function refresh() {
  cred = adminCredential();
  arm.pg = new PostgreSQLManagementFlexibleServerClient(cred, c.subscriptionId);
  arm.kv = new KeyVaultManagementClient(cred, c.subscriptionId);
  arm.msi = new ManagedServiceIdentityClient(cred, c.subscriptionId);
  arm.rm = new ResourceManagementClient(cred, c.subscriptionId);
}
refresh();
const rg = 'rg-dp';
const location = 'westeurope';
const pair = 'northeurope';
const poll = { updateIntervalInMs: 50 };
const WRAP = ['get', 'list', 'wrapKey', 'unwrapKey'];
const PASSWORD = 'Sandbox-Passw0rd!';
const mgmt = 'https://management.azure.com';

let adminOid;
async function mgmtToken() {
  return (await cred.getToken(`${mgmt}/.default`)).token;
}

async function setup() {
  adminOid = JSON.parse(Buffer.from((await cred.getToken('https://vault.azure.net/.default')).token
    .split('.')[1], 'base64url')).oid;
  await arm.rm.resourceGroups.createOrUpdate(rg, { location });
}

async function identity(name, loc = location) {
  return arm.msi.userAssignedIdentities.createOrUpdate(rg, name, { location: loc });
}

// A vault whose access policies give the admin everything and each [identity, perms] its own.
async function vault(prefix, { loc = location, policies = [] } = {}) {
  const name = uniqueName(prefix);
  await arm.kv.vaults.beginCreateOrUpdateAndWait(rg, name, { location: loc, properties: {
    tenantId: c.tenantId, sku: { family: 'A', name: 'standard' }, enableSoftDelete: true,
    softDeleteRetentionInDays: 90, enablePurgeProtection: true,
    accessPolicies: [{ tenantId: c.tenantId, objectId: adminOid, permissions: { keys: ['all'] } },
      ...policies.map(([mi, perms]) => ({ tenantId: c.tenantId, objectId: mi.principalId, permissions: { keys: perms } }))],
  } }, poll);
  return name;
}

function keyClient(vaultName) {
  return new KeyClient(`https://${vaultName}.vault.azure.net`, cred);
}

async function setPolicy(vaultName, mi, op, perms = WRAP) {
  await arm.kv.vaults.updateAccessPolicy(rg, vaultName, op, { properties: { accessPolicies: [{
    tenantId: c.tenantId, objectId: mi.principalId, permissions: { keys: perms } }] } });
}

function serverBody({ key, id, geo, extra = {} } = {}) {
  const map = {};
  for (const mi of [id, geo?.id].filter(Boolean)) map[mi.id] = {};
  return {
    location,
    sku: { name: 'Standard_D2ds_v4', tier: 'GeneralPurpose' },
    tags: { 'cmksim-profile': 'instant' },
    ...(id ? { identity: { type: 'UserAssigned', userAssignedIdentities: map } } : {}),
    administratorLogin: 'pgadmin',
    administratorLoginPassword: PASSWORD,
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

const createServer = (name, body) => arm.pg.servers.beginCreateOrUpdateAndWait(rg, name, body, poll);

async function revalidate(name) {
  const r = await c.request('POST', `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}/revalidateDataEncryption?api-version=2025-08-01`,
    { token: await mgmtToken() });
  assert.ok([200, 202].includes(r.status), r.text);
  return arm.pg.servers.get(rg, name);
}

// Move the emulator's clock (every timer due on the way fires: monitor checks, backups...).
async function advance(duration) {
  const r = await c.request('POST', `${mgmt}/_cmksim/clock/advance`, { token: await mgmtToken(), body: { duration } });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

// ---- PostgreSQL clients ----------------------------------------------------------------------

function pgPort() {
  return Number(c.serveInfo().postgres.split(':').pop());
}
const host = (server) => `${server}.postgres.database.azure.com`;

function conninfo(server, { db = 'postgres', user = 'pgadmin', sslmode = 'verify-full' } = {}) {
  return `host=${host(server)} hostaddr=127.0.0.1 port=${pgPort()} dbname=${db} user=${user} ` +
    `sslmode=${sslmode} sslrootcert=${c.info.ca} connect_timeout=10`;
}

// psql -X -v ON_ERROR_STOP=1 -c SQL -> {status, stdout, stderr}
function psql(server, sql, { db, user, password = PASSWORD, args = [] } = {}) {
  const r = spawnSync('psql', [conninfo(server, { db, user }), '-X', '-q', '-A', '-t',
    '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', ...args, ...(sql === null ? [] : ['-c', sql])],
  { env: { ...process.env, PGPASSWORD: password, PGAPPNAME: 'dp-test' }, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function psqlOk(server, sql, opts) {
  const r = psql(server, sql, opts);
  assert.equal(r.status, 0, `psql ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

// A node-postgres client over TLS verified against the emulator's CA.
async function pgClient(server, { db = 'postgres', user = 'pgadmin', password = PASSWORD } = {}) {
  const client = new pgdriver.Client({ host: '127.0.0.1', port: pgPort(), user, password, database: db,
    ssl: { ca: c.ca, servername: host(server) } });
  await client.connect();
  return client;
}

// The server's own port (server.json in its directory): no SNI needed there.
function ownPort(server) {
  return JSON.parse(fs.readFileSync(path.join(serverDir(server), 'server.json'), 'utf8')).port;
}

// pgbench -n -f SCRIPT on the server's own port without TLS -> {status, tps, failed, out}
function pgbench(server, script, { clients = 2, jobs = 1, seconds = 2, mode = 'prepared', db = 'postgres' } = {}) {
  const file = path.join(c.data, `bench-${process.pid}-${Math.random().toString(36).slice(2)}.sql`);
  fs.writeFileSync(file, script);
  const r = spawnSync('pgbench', ['-n', '-f', file, '-M', mode, '-c', String(clients), '-j', String(jobs),
    '-T', String(seconds), `host=127.0.0.1 port=${ownPort(server)} dbname=${db} user=pgadmin sslmode=disable`],
  { env: { ...process.env, PGPASSWORD: PASSWORD }, encoding: 'utf8', timeout: 120000 });
  fs.rmSync(file, { force: true });
  const out = `${r.stdout}\n${r.stderr}`;
  const tps = Number((out.match(/tps = ([\d.]+)/) || [])[1]);
  const failedMatch = out.match(/number of failed transactions: (\d+)/);
  return { status: r.status, tps, failed: failedMatch ? Number(failedMatch[1]) : 0, out };
}

// ---- the state directory ---------------------------------------------------------------------

function serverDir(server) {
  return path.join(c.data, 'servers', server);
}

function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

// Every file under dir that contains one of the needles (Buffers).
function scan(dir, needles) {
  const hits = [];
  for (const f of walk(dir)) {
    const data = fs.readFileSync(f);
    for (const n of needles) if (data.includes(n)) hits.push(`${path.relative(dir, f)}: ${n.toString('hex').slice(0, 16)}...`);
  }
  return hits;
}

function envelope(server, dir = serverDir(server)) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'envelope.json'), 'utf8'));
}

// The DEKs of an envelope, unwrapped by the admin (who holds every key permission).
async function unwrapDeks(env) {
  const { CryptographyClient } = need('@azure/keyvault-keys');
  const out = [];
  for (const d of env.deks) {
    const cc = new CryptographyClient(d.wrapped.kid, cred);
    const r = await cc.unwrapKey('RSA-OAEP-256', Buffer.from(d.wrapped.value, 'base64url'));
    out.push(Buffer.from(r.result));
  }
  return out;
}

module.exports = {
  c, arm, rg, location, pair, poll, WRAP, PASSWORD, mgmt, uniqueName, rejects, setup, identity,
  vault, keyClient, setPolicy, serverBody, createServer, revalidate, advance, pgPort, host, conninfo,
  psql, psqlOk, pgClient, pgbench, ownPort, serverDir, walk, scan, envelope, unwrapDeks, spawn, need,
  mgmtToken, refresh,
};
