// crash.test.js: crash consistency (issue 9). A fresh `cmksim serve` under a mixed load — vault
// writes (key creates, tag updates, deletes), ARM creates (managed identities, vaults, CMK
// PostgreSQL servers: long-running operations), SQL inserts committed one by one — is killed
// with SIGKILL at random moments, ITERATIONS times, and restarted on the same state directory.
// After each restart:
//   - every acknowledged write is there: keys created or updated (the tag value acknowledged,
//     or the one in flight at the kill), deleted keys gone, identities, vaults, servers Ready,
//     every acknowledged row;
//   - nothing half-made is visible: each resource of the group reads back whole, a vault is
//     Succeeded, a server is Ready or still Provisioning with its operation in progress, and
//     that operation then finishes (resumes) or fails cleanly (the server is not left behind
//     in Provisioning);
//   - the server keeps serving: SQL works again once the data plane has unwrapped its DEKs.
// The kill moments and the load's choices come from one seed, printed first; CRASH_SEED=N
// replays a run. CRASH_ITERATIONS (default 20) sets the number of kills.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { createRequire } = require('node:module');

const clients = path.join(__dirname, '..', 'clients');
const c = require(path.join(clients, 'lib', 'cmksim'));
const pgdriver = createRequire(path.join(clients, 'package.json'))('pg');

const SEED = Number(process.env.CRASH_SEED ?? crypto.randomInt(1, 2 ** 31));
const ITERATIONS = Number(process.env.CRASH_ITERATIONS ?? 20);
const MGMT = 'https://management.azure.com';
const SUB = c.subscriptionId;
const RG = 'rg-crash';
const LOC = 'westeurope';
const API = { rm: '2021-04-01', vaults: '2026-02-01', msi: '2024-11-30', pg: '2025-08-01', kv: '7.5' };
const PASSWORD = 'Sandbox-Passw0rd!';
const tag = crypto.randomBytes(3).toString('hex');
const KV = `kvcrash${tag}`;
const PG = `pgcrash${tag}`;

// mulberry32: the load's and the killer's choices, from the seed
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const pick = (arr) => arr[Math.floor(rand() * arr.length)];

const arm = (p, api) => `${MGMT}/subscriptions/${SUB}${p}${p.includes('?') ? '&' : '?'}api-version=${api}`;
const rgp = (rest) => `/resourceGroups/${RG}/providers/${rest}`;
const kv = (p) => `https://${KV}.vault.azure.net${p}?api-version=${API.kv}`;

const tok = {};
async function tokens() {
  tok.mgmt = await c.token(`${MGMT}/.default`);
  tok.vault = await c.token('https://vault.azure.net/.default');
}
async function must(method, url, opts, want = [200, 201, 202, 204]) {
  const r = await c.request(method, url, opts);
  assert.ok(want.includes(r.status), `${method} ${url}: ${r.status} ${r.text.slice(0, 300)}`);
  return r;
}

// ---- the model: what was acknowledged, what was in flight at the kill -----------------------

const model = {
  keys: new Map(), // name -> {acked: 'live'|'gone', n: tag value acked, inflight: {op, n}|null}
  identities: new Set(),
  vaults: new Set(),
  servers: new Map(), // name -> 'acked' | 'inflight' | 'lro' (accepted, operation running)
  lro: new Map(), // name -> its operation's Azure-AsyncOperation URL
  rows: new Set(),
  inflightRows: new Set(),
  nextId: 1,
  stats: { resumed: 0, failedClean: 0 },
};
let epoch = 0; // bumped at each kill: a loop of an older epoch stops

async function keyLoop(my) {
  while (my === epoch) {
    const live = [...model.keys].filter(([, k]) => k.acked === 'live' && !k.inflight).map(([n]) => n);
    const r = rand();
    let name;
    let op;
    if (live.length < 3 || r < 0.4) {
      name = `k${model.nextId++}`;
      op = 'create';
      model.keys.set(name, { acked: 'gone', n: 0, inflight: null });
    } else if (r < 0.85) {
      name = pick(live);
      op = 'update';
    } else {
      name = pick(live);
      op = 'delete';
    }
    const k = model.keys.get(name);
    const n = k.n + 1;
    k.inflight = { op, n };
    let res;
    try {
      if (op === 'create') res = await c.request('POST', kv(`/keys/${name}/create`), { token: tok.vault, body: { kty: 'RSA', key_size: 2048, tags: { n: String(n) } } });
      else if (op === 'update') res = await c.request('PATCH', kv(`/keys/${name}`), { token: tok.vault, body: { tags: { n: String(n) } } });
      else res = await c.request('DELETE', kv(`/keys/${name}`), { token: tok.vault });
    } catch {
      return; // killed: the write stays in flight
    }
    assert.equal(res.status, 200, `${op} ${name}: ${res.status} ${res.text.slice(0, 200)}`);
    if (op === 'delete') k.acked = 'gone';
    else { k.acked = 'live'; k.n = n; }
    k.inflight = null;
  }
}

async function armLoop(my) {
  while (my === epoch) {
    const r = rand();
    const id = model.nextId++;
    try {
      if (r < 0.45) {
        const name = `mi${id}`;
        const res = await c.request('PUT', arm(rgp(`Microsoft.ManagedIdentity/userAssignedIdentities/${name}`), API.msi), { token: tok.mgmt, body: { location: LOC } });
        assert.ok([200, 201].includes(res.status), res.text);
        model.identities.add(name);
      } else if (r < 0.8 || model.servers.size >= 6) {
        const name = `kvc${tag}${id}`;
        const res = await c.request('PUT', arm(rgp(`Microsoft.KeyVault/vaults/${name}`), API.vaults), { token: tok.mgmt,
          body: { location: LOC, properties: { tenantId: c.tenantId, sku: { family: 'A', name: 'standard' },
            enableSoftDelete: true, softDeleteRetentionInDays: 90, enablePurgeProtection: true, accessPolicies: [] } } });
        assert.ok([200, 201, 202].includes(res.status), res.text);
        await waitState(rgp(`Microsoft.KeyVault/vaults/${name}`), API.vaults, (b) => b.properties?.provisioningState === 'Succeeded', my);
        model.vaults.add(name);
      } else if (r < 0.9) {
        const name = `pgc${tag}${id}`;
        model.servers.set(name, 'inflight');
        const res = await c.request('PUT', arm(rgp(`Microsoft.DBforPostgreSQL/flexibleServers/${name}`), API.pg), { token: tok.mgmt, body: serverBody() });
        assert.ok([200, 201, 202].includes(res.status), res.text);
        await waitState(rgp(`Microsoft.DBforPostgreSQL/flexibleServers/${name}`), API.pg, (b) => b.properties?.state === 'Ready', my);
        model.servers.set(name, 'acked');
      } else {
        // the default timing profile: a create takes minutes of the clock, so the kill finds
        // its long-running operation in progress; acknowledged when the PUT is accepted
        const name = `pgl${tag}${id}`;
        model.servers.set(name, 'inflight');
        const res = await c.request('PUT', arm(rgp(`Microsoft.DBforPostgreSQL/flexibleServers/${name}`), API.pg), { token: tok.mgmt, body: serverBody('default') });
        assert.ok([200, 201, 202].includes(res.status), res.text);
        model.servers.set(name, 'lro');
        model.lro.set(name, res.headers['azure-asyncoperation']);
      }
    } catch (e) {
      if (my !== epoch || /ECONNRESET|ECONNREFUSED|socket hang up|EPIPE/.test(String(e))) return;
      throw e;
    }
  }
}

async function waitState(p, api, done, my) {
  for (;;) {
    const r = await c.request('GET', arm(p, api), { token: tok.mgmt });
    if (r.status === 200 && done(r.body)) return r.body;
    if (my !== undefined && my !== epoch) throw new Error('ECONNRESET: killed');
    await c.sleep(20);
  }
}

let pgc;
async function sqlLoop(my) {
  while (my === epoch) {
    const id = model.nextId++;
    model.inflightRows.add(id);
    try {
      await pgc.query('INSERT INTO acked(id, v) VALUES ($1, $2)', [id, `row-${id}`]);
    } catch {
      return;
    }
    model.inflightRows.delete(id);
    model.rows.add(id);
  }
}

let mi;
function serverBody(profile = 'instant') {
  return { location: LOC, sku: { name: 'Standard_D2ds_v4', tier: 'GeneralPurpose' }, tags: { 'cmksim-profile': profile },
    identity: { type: 'UserAssigned', userAssignedIdentities: { [mi.id]: {} } },
    properties: { administratorLogin: 'pgadmin', administratorLoginPassword: PASSWORD, version: '16',
      storage: { storageSizeGB: 32 }, backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' },
      dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: `https://${KV}.vault.azure.net/keys/cmk`,
        primaryUserAssignedIdentityId: mi.id } } };
}

async function pgConnect(deadlineMs = 20000) {
  const t0 = Date.now();
  for (;;) {
    const cl = new pgdriver.Client({ host: '127.0.0.1', port: Number(c.serveInfo().postgres.split(':').pop()),
      user: 'pgadmin', password: PASSWORD, database: 'postgres',
      ssl: { ca: c.ca, servername: `${PG}.postgres.database.azure.com` } });
    cl.on('error', () => {});
    try {
      await cl.connect();
      return cl;
    } catch (e) {
      if (Date.now() - t0 > deadlineMs) throw new Error(`no SQL session ${deadlineMs} ms after the restart: ${e.message}`);
      await c.sleep(50);
    }
  }
}

// ---- checks after each restart ---------------------------------------------------------------

async function verify(iter) {
  const problems = [];
  // keys
  const listed = new Map();
  let next = kv('/keys').replace('?', '?maxresults=25&');
  while (next) {
    const r = await must('GET', next, { token: tok.vault });
    for (const k of r.body.value) listed.set(k.kid.split('/').pop(), k);
    next = r.body.nextLink;
  }
  for (const [name, k] of model.keys) {
    if (name === 'cmk') continue;
    const got = listed.get(name);
    const ok = [k.acked === 'live' ? `live:${k.n}` : 'gone'];
    if (k.inflight) ok.push(k.inflight.op === 'delete' ? 'gone' : `live:${k.inflight.n}`);
    const seen = got ? `live:${got.tags?.n}` : 'gone';
    if (!ok.includes(seen)) problems.push(`key ${name}: ${seen}, acknowledged ${k.acked}:${k.n}, in flight ${JSON.stringify(k.inflight)}`);
    // from here on the model is what the restart kept
    k.acked = got ? 'live' : 'gone';
    if (got) k.n = Number(got.tags?.n);
    k.inflight = null;
  }
  // identities, vaults
  for (const name of model.identities) {
    const r = await c.request('GET', arm(rgp(`Microsoft.ManagedIdentity/userAssignedIdentities/${name}`), API.msi), { token: tok.mgmt });
    if (r.status !== 200 || !r.body.properties?.principalId) problems.push(`identity ${name}: ${r.status}`);
  }
  for (const name of model.vaults) {
    const r = await c.request('GET', arm(rgp(`Microsoft.KeyVault/vaults/${name}`), API.vaults), { token: tok.mgmt });
    if (r.status !== 200 || r.body.properties?.provisioningState !== 'Succeeded') problems.push(`vault ${name}: ${r.status} ${r.body?.properties?.provisioningState}`);
  }
  // long-running creates accepted before the kill: the clock moves past their duration, and
  // each must then have resumed (Ready) or failed cleanly (operation Failed, no server left)
  if ([...model.servers.values()].includes('lro')) {
    await must('POST', `${MGMT}/_cmksim/clock/advance`, { token: tok.mgmt, body: { duration: '10m' } });
    await tokens();
  }
  for (const [name, st] of model.servers) {
    if (st !== 'lro') continue;
    const p = rgp(`Microsoft.DBforPostgreSQL/flexibleServers/${name}`);
    let r;
    const t0 = Date.now();
    for (;;) {
      r = await c.request('GET', arm(p, API.pg), { token: tok.mgmt });
      if (r.status === 404 || r.body?.properties?.state === 'Ready' || Date.now() - t0 > 15000) break;
      await c.sleep(50);
    }
    const op = await c.request('GET', model.lro.get(name), { token: tok.mgmt });
    if (r.status === 200 && r.body.properties.state === 'Ready') {
      if (op.body?.status !== 'Succeeded') problems.push(`server ${name} Ready but its operation says ${op.status} ${op.text.slice(0, 200)}`);
      model.servers.set(name, 'acked');
      model.stats.resumed++;
    } else if (r.status === 404 && op.body?.status === 'Failed') {
      model.servers.delete(name);
      model.stats.failedClean++;
    } else {
      problems.push(`server ${name} (long-running create accepted): ${r.status} ${r.body?.properties?.state}, operation ${op.status} ${op.text.slice(0, 200)}`);
    }
  }
  // servers: acknowledged ones Ready; one in flight finishes or goes away, never stays half-made
  for (const [name, st] of model.servers) {
    const p = rgp(`Microsoft.DBforPostgreSQL/flexibleServers/${name}`);
    let r;
    const t0 = Date.now();
    for (;;) {
      r = await c.request('GET', arm(p, API.pg), { token: tok.mgmt });
      const state = r.body?.properties?.state;
      if (r.status === 404 || state === 'Ready' || Date.now() - t0 > 15000) break;
      await c.sleep(50);
    }
    const state = r.body?.properties?.state;
    if (st === 'acked' && state !== 'Ready') problems.push(`server ${name} (acknowledged): ${r.status} ${state}`);
    else if (st === 'inflight' && r.status === 200 && state !== 'Ready') problems.push(`server ${name} (in flight at the kill) stuck: ${state}`);
    if (r.status === 200 && state === 'Ready') model.servers.set(name, 'acked');
    else if (st === 'inflight') model.servers.delete(name);
  }
  // nothing half-made in the group: every resource reads back whole
  const all = await must('GET', arm(`/resourceGroups/${RG}/resources`, API.rm), { token: tok.mgmt });
  for (const res of all.body.value) {
    const api = /DBforPostgreSQL/.test(res.type) ? API.pg : /KeyVault/.test(res.type) ? API.vaults : API.msi;
    const r = await c.request('GET', `${MGMT}${res.id}?api-version=${api}`, { token: tok.mgmt });
    const ps = r.body?.properties?.provisioningState;
    if (r.status !== 200) problems.push(`${res.id} listed but GET ${r.status}`);
    else if (ps && !['Succeeded', 'Ready'].includes(ps) && !(res.type.endsWith('flexibleServers') && r.body.properties.state === 'Ready'))
      problems.push(`${res.id} provisioningState ${ps}`);
  }
  // rows
  pgc = await pgConnect();
  const rows = new Set((await pgc.query('SELECT id FROM acked')).rows.map((x) => Number(x.id)));
  const missing = [...model.rows].filter((id) => !rows.has(id));
  if (missing.length) problems.push(`${missing.length} acknowledged rows missing: ${missing.slice(0, 10)}`);
  const extra = [...rows].filter((id) => !model.rows.has(id) && !model.inflightRows.has(id));
  if (extra.length) problems.push(`rows never sent: ${extra.slice(0, 10)}`);
  for (const id of model.inflightRows) if (rows.has(id)) model.rows.add(id);
  model.inflightRows.clear();
  assert.deepEqual(problems, [], `after kill ${iter} (seed ${SEED})`);
}

test.before(async () => {
  console.log(`crash seed ${SEED} (CRASH_SEED=${SEED} replays it), ${ITERATIONS} kills`);
  await tokens();
  const vt = JSON.parse(Buffer.from(tok.vault.split('.')[1], 'base64url'));
  await must('PUT', arm(`/resourcegroups/${RG}`, API.rm), { token: tok.mgmt, body: { location: LOC } });
  const r = await must('PUT', arm(rgp('Microsoft.ManagedIdentity/userAssignedIdentities/id-crash'), API.msi), { token: tok.mgmt, body: { location: LOC } });
  mi = { id: r.body.id, principalId: r.body.properties.principalId };
  await must('PUT', arm(rgp(`Microsoft.KeyVault/vaults/${KV}`), API.vaults), { token: tok.mgmt, body: { location: LOC, properties: {
    tenantId: c.tenantId, sku: { family: 'A', name: 'standard' }, enableSoftDelete: true, softDeleteRetentionInDays: 90,
    enablePurgeProtection: true, accessPolicies: [
      { tenantId: c.tenantId, objectId: vt.oid, permissions: { keys: ['all'] } },
      { tenantId: c.tenantId, objectId: mi.principalId, permissions: { keys: ['get', 'list', 'wrapKey', 'unwrapKey'] } }] } } });
  await waitState(rgp(`Microsoft.KeyVault/vaults/${KV}`), API.vaults, (b) => b.properties?.provisioningState === 'Succeeded');
  await must('POST', kv('/keys/cmk/create'), { token: tok.vault, body: { kty: 'RSA', key_size: 2048 } });
  await must('PUT', arm(rgp(`Microsoft.DBforPostgreSQL/flexibleServers/${PG}`), API.pg), { token: tok.mgmt, body: serverBody() });
  await waitState(rgp(`Microsoft.DBforPostgreSQL/flexibleServers/${PG}`), API.pg, (b) => b.properties?.state === 'Ready');
  pgc = await pgConnect();
  await pgc.query('CREATE TABLE acked(id int PRIMARY KEY, v text)');
});

test(`SIGKILL under mixed load, restart, check (${ITERATIONS} times)`, async () => {
  const stats = { keys: 0, rows: 0, resources: 0 };
  for (let i = 1; i <= ITERATIONS; i++) {
    const my = ++epoch;
    const loops = [keyLoop(my), keyLoop(my), armLoop(my), sqlLoop(my)];
    const delay = 150 + Math.floor(rand() * 650);
    await c.sleep(delay);
    const t0 = Date.now();
    const before = c.serveInfo().pid;
    const after = (await c.restartHard()).pid; // SIGKILL, start again on the same directory and ports
    assert.notEqual(after, before, 'a new process serves');
    epoch++;
    for (const r of await Promise.allSettled(loops)) {
      // a loop ends with the connection the kill broke; any other error is a finding
      if (r.status === 'rejected' && !/ECONNRESET|ECONNREFUSED|socket hang up|EPIPE|killed/.test(String(r.reason))) throw r.reason;
    }
    try { await pgc.end(); } catch { /* the connection died with the process */ }
    await tokens();
    await verify(i);
    stats.keys = [...model.keys.values()].filter((k) => k.acked === 'live').length;
    stats.rows = model.rows.size;
    stats.resources = model.identities.size + model.vaults.size + model.servers.size;
    console.log(`kill ${i}: after ${delay} ms of load; restart + checks ${Date.now() - t0} ms; ` +
      `${stats.keys} live keys, ${stats.rows} rows, ${stats.resources} resources acknowledged so far`);
  }
  console.log(`long-running creates found in progress at a kill: ${model.stats.resumed} resumed, ${model.stats.failedClean} failed cleanly`);
  assert.ok(stats.rows > 0 && stats.keys > 0 && stats.resources > 0, 'the load did write something of each kind');
});

test.after(async () => {
  try { await pgc?.end(); } catch { /* gone */ }
  c.agent.destroy();
});
