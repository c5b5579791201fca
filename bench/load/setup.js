// setup.js: what bench/load/run loads, arranged on a running `cmksim serve` (CMKSIM_DATA and the
// `cmksim env --export` environment set): a vault with an RSA-2048 key "kek" (the admin holds
// every key permission), a value wrapped by it, a CMK PostgreSQL server with an accounts table
// of LOAD_ROWS rows. Prints shell assignments for the runner: token, vault, wrapped, pg_port,
// https_port, pid.
'use strict';
const path = require('node:path');
const crypto = require('node:crypto');
const { createRequire } = require('node:module');

const clients = path.join(__dirname, '..', '..', 'tests', 'clients');
const c = require(path.join(clients, 'lib', 'cmksim'));
const pgdriver = createRequire(path.join(clients, 'package.json'))('pg');

const MGMT = 'https://management.azure.com';
const SUB = c.subscriptionId;
const RG = 'rg-load';
const LOC = 'westeurope';
const PASSWORD = 'Sandbox-Passw0rd!';
const ROWS = Number(process.env.LOAD_ROWS ?? 10000);
const tag = crypto.randomBytes(3).toString('hex');
const KV = `kvload${tag}`;
const PG = `pgload${tag}`;
const arm = (p, api) => `${MGMT}/subscriptions/${SUB}/resourceGroups/${RG}/providers/${p}?api-version=${api}`;

async function must(method, url, opts, want = [200, 201, 202]) {
  const r = await c.request(method, url, opts);
  if (!want.includes(r.status)) throw new Error(`${method} ${url}: ${r.status} ${r.text.slice(0, 300)}`);
  return r;
}
async function until(url, token, done) {
  for (let i = 0; i < 2000; i++) {
    const r = await c.request('GET', url, { token });
    if (r.status === 200 && done(r.body)) return r.body;
    await c.sleep(25);
  }
  throw new Error(`${url} never got ready`);
}

(async () => {
  const mt = await c.token(`${MGMT}/.default`);
  const vt = await c.token('https://vault.azure.net/.default');
  const oid = JSON.parse(Buffer.from(vt.split('.')[1], 'base64url')).oid;
  await must('PUT', `${MGMT}/subscriptions/${SUB}/resourcegroups/${RG}?api-version=2021-04-01`, { token: mt, body: { location: LOC } });
  const mi = (await must('PUT', arm('Microsoft.ManagedIdentity/userAssignedIdentities/id-load', '2024-11-30'), { token: mt, body: { location: LOC } })).body;
  await must('PUT', arm(`Microsoft.KeyVault/vaults/${KV}`, '2026-02-01'), { token: mt, body: { location: LOC, properties: {
    tenantId: c.tenantId, sku: { family: 'A', name: 'standard' }, enableSoftDelete: true, softDeleteRetentionInDays: 90,
    enablePurgeProtection: true, accessPolicies: [
      { tenantId: c.tenantId, objectId: oid, permissions: { keys: ['all'] } },
      { tenantId: c.tenantId, objectId: mi.properties.principalId, permissions: { keys: ['get', 'list', 'wrapKey', 'unwrapKey'] } }] } } });
  await until(arm(`Microsoft.KeyVault/vaults/${KV}`, '2026-02-01'), mt, (b) => b.properties?.provisioningState === 'Succeeded');
  const kv = (p) => `https://${KV}.vault.azure.net${p}?api-version=7.5`;
  await must('POST', kv('/keys/kek/create'), { token: vt, body: { kty: 'RSA', key_size: 2048 } });
  for (let i = 0; i < 5; i++) await must('POST', kv(`/keys/other${i}/create`), { token: vt, body: { kty: 'RSA', key_size: 2048 } });
  const wrapped = (await must('POST', kv('/keys/kek/wrapkey'), { token: vt, body: { alg: 'RSA-OAEP-256', value: crypto.randomBytes(32).toString('base64url') } })).body.value;
  await must('PUT', arm(`Microsoft.DBforPostgreSQL/flexibleServers/${PG}`, '2025-08-01'), { token: mt, body: {
    location: LOC, sku: { name: 'Standard_D2ds_v4', tier: 'GeneralPurpose' }, tags: { 'cmksim-profile': 'instant' },
    identity: { type: 'UserAssigned', userAssignedIdentities: { [mi.id]: {} } },
    properties: { administratorLogin: 'pgadmin', administratorLoginPassword: PASSWORD, version: '16',
      storage: { storageSizeGB: 32 }, backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' },
      dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: `https://${KV}.vault.azure.net/keys/kek`,
        primaryUserAssignedIdentityId: mi.id } } } });
  await until(arm(`Microsoft.DBforPostgreSQL/flexibleServers/${PG}`, '2025-08-01'), mt, (b) => b.properties?.state === 'Ready');
  const pg = new pgdriver.Client({ host: '127.0.0.1', port: Number(c.serveInfo().postgres.split(':').pop()),
    user: 'pgadmin', password: PASSWORD, database: 'postgres', ssl: { ca: c.ca, servername: `${PG}.postgres.database.azure.com` } });
  await pg.connect();
  await pg.query('CREATE TABLE accounts(aid int PRIMARY KEY, abalance int, filler text)');
  await pg.query(`INSERT INTO accounts SELECT g, 0, repeat('x', 84) FROM generate_series(1, ${ROWS}) AS g`);
  await pg.end();
  const own = JSON.parse(require('node:fs').readFileSync(path.join(c.data, 'servers', PG, 'server.json'), 'utf8')).port;
  console.log(`token='${vt}'`);
  console.log(`vault='${KV}.vault.azure.net'`);
  console.log(`wrapped='${wrapped}'`);
  console.log(`pg_port=${own}`);
  console.log(`https_port=${c.serveInfo().https.split(':').pop()}`);
  console.log(`pid=${c.serveInfo().pid}`);
  c.agent.destroy();
})().catch((e) => {
  console.error(`bench/load setup: ${e.message}`);
  process.exit(1);
});
