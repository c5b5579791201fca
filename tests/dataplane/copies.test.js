// copies.test.js: the copies of a CMK server are real and encrypted as the rules say (R13, R15,
// issue 6 "Copies"): backups on the clock, a point-in-time restore holding the rows of that
// point under the new server's own key (and needing the original key at restore time), a read
// replica with DEKs of its own under its regional key, read-only, catching up on the clock with
// a lag one can measure, a geo-restore from the paired region's copy under the geo-backup key,
// and the geo-backup key lost: geo-restore fails while the primary stays Ready.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const dp = require('./lib/dp');
const { openAll } = require('./lib/pages');

const server = dp.uniqueName('dpcopy');
const ids = {};
const keys = {};
const vaults = {};
let primary;

async function clockNow() {
  const r = await dp.c.request('GET', `${dp.mgmt}/_cmksim/clock`, { token: await dp.mgmtToken() });
  assert.equal(r.status, 200, r.text);
  return r.body.timeMs;
}

async function setSpeed(speed) {
  const r = await dp.c.request('POST', `${dp.mgmt}/_cmksim/clock/speed`, { token: await dp.mgmtToken(), body: { speed } });
  assert.equal(r.status, 200, r.text);
}

const count = (name) => Number(dp.psqlOk(name, 'SELECT count(*) FROM t'));
const kidOf = (name) => dp.envelope(name).kek.kid;

function copyBody(createMode, { loc = dp.location, id, key, extra = {} } = {}) {
  return { location: loc, tags: { 'cmksim-profile': 'instant' }, createMode,
    sourceServerResourceId: primary.id,
    identity: { type: 'UserAssigned', userAssignedIdentities: { [id.id]: {} } },
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: key, primaryUserAssignedIdentityId: id.id },
    ...extra };
}

test.before(async () => {
  await dp.setup();
  ids.p = await dp.identity('id-copy');
  ids.p2 = await dp.identity('id-copy2');
  ids.geo = await dp.identity('id-copy-geo', dp.pair);
  ids.repl = await dp.identity('id-copy-repl', dp.pair);
  vaults.main = await dp.vault('kvcopy', { policies: [[ids.p, dp.WRAP], [ids.p2, dp.WRAP]] });
  vaults.geo = await dp.vault('kvcopygeo', { loc: dp.pair, policies: [[ids.geo, dp.WRAP], [ids.repl, dp.WRAP]] });
  for (const [v, k] of [['main', 'cmk'], ['main', 'cmk2'], ['geo', 'geocmk'], ['geo', 'replkey']]) {
    await dp.keyClient(vaults[v]).createRsaKey(k, { keySize: 2048 });
    keys[k] = `https://${vaults[v]}.vault.azure.net/keys/${k}`;
  }
  primary = await dp.createServer(server, dp.serverBody({ key: keys.cmk, id: ids.p,
    geo: { key: keys.geocmk, id: ids.geo } }));
  assert.equal(primary.state, 'Ready');
  dp.psqlOk(server, 'CREATE TABLE t(id int PRIMARY KEY, phase text)');
  dp.psqlOk(server, `INSERT INTO t SELECT g, 'phase-A' FROM generate_series(1, 50) AS g`);
});

test('backups on the clock, point-in-time restore as of the point under its own key (R13)', async () => {
  await dp.advance('6m'); // a backup tick: the WAL with phase A is archived
  const bdir = path.join(dp.serverDir(server), 'backups', 'postgres.db');
  const files = fs.readdirSync(bdir);
  assert.ok(files.some((f) => f.endsWith('.full.db')), `a full backup: ${files}`);
  assert.ok(files.some((f) => /^\d+\.wal$/.test(f)), `archived WAL: ${files}`);
  const t1 = await clockNow();
  await dp.advance('1s');
  dp.psqlOk(server, `INSERT INTO t SELECT g, 'phase-B' FROM generate_series(51, 100) AS g`);

  // as of t1: phase A only, under another key and identity
  const r1 = dp.uniqueName('dppitr');
  const s1 = await dp.createServer(r1, copyBody('PointInTimeRestore', { id: ids.p2, key: keys.cmk2,
    extra: { pointInTimeUTC: new Date(t1) } }));
  assert.equal(s1.state, 'Ready');
  assert.equal(count(r1), 50);
  assert.equal(dp.psqlOk(r1, `SELECT count(*) FROM t WHERE phase = 'phase-B'`), '0');
  assert.ok(kidOf(r1).startsWith(`${keys.cmk2}/`), `the restore's DEKs are wrapped by its own key: ${kidOf(r1)}`);
  assert.ok(kidOf(server).startsWith(`${keys.cmk}/`));
  // as of now: both phases; writable, a server of its own
  const r2 = dp.uniqueName('dppitr');
  await dp.createServer(r2, copyBody('PointInTimeRestore', { id: ids.p, key: keys.cmk,
    extra: { pointInTimeUTC: new Date(await clockNow()) } }));
  assert.equal(count(r2), 100);
  dp.psqlOk(r2, `INSERT INTO t VALUES (1000, 'restored')`);
  assert.equal(count(server), 100, 'the source is untouched');

  // the original key must be reachable at restore time: without it the copy cannot be made
  await dp.setPolicy(vaults.main, ids.p, 'remove');
  try {
    const e = await dp.createServer(dp.uniqueName('dppitr'), copyBody('PointInTimeRestore',
      { id: ids.p2, key: keys.cmk2, extra: { pointInTimeUTC: new Date(await clockNow()) } })).catch((x) => x);
    assert.ok(e instanceof Error, 'a restore without the source key must fail');
    assert.match(e.message, /key is not accessible/);
  } finally {
    await dp.setPolicy(vaults.main, ids.p, 'add');
  }
  assert.equal(count(server), 100);
});

test('read replica: DEKs of its own under its regional key, read-only, lag on the clock', async () => {
  const rp = dp.uniqueName('dprepl');
  const s = await dp.createServer(rp, copyBody('Replica', { loc: dp.pair, id: ids.repl, key: keys.replkey }));
  assert.equal(s.state, 'Ready');
  assert.equal(s.replicationRole, 'GeoAsyncReplica');
  assert.equal(count(rp), 100, 'copied at creation');
  const w = dp.psql(rp, `INSERT INTO t VALUES (5000, 'no')`);
  assert.notEqual(w.status, 0);
  assert.match(w.stderr, /ERROR:\s+25006/);
  assert.equal(dp.psqlOk(rp, 'SELECT pg_is_in_recovery()'), 't');
  const replayed1 = dp.psqlOk(rp, 'SELECT pg_last_xact_replay_timestamp()');
  assert.match(replayed1, /^\d{4}-\d\d-\d\dT/);

  await setSpeed(0); // the clock stands still: the replica cannot catch up
  try {
    dp.psqlOk(server, `INSERT INTO t SELECT g, 'phase-C' FROM generate_series(101, 110) AS g`);
    assert.equal(count(rp), 100, 'not copied yet: the replica lags');
    await dp.advance('3s'); // a copy is due every 2 s
    assert.equal(count(rp), 110, 'caught up');
  } finally {
    await setSpeed(1);
  }
  const replayed2 = dp.psqlOk(rp, 'SELECT pg_last_xact_replay_timestamp()');
  assert.ok(Date.parse(replayed2) > Date.parse(replayed1), `${replayed1} -> ${replayed2}`);

  // its own DEK and key: the primary's DEK does not open its file, its own does
  assert.ok(kidOf(rp).startsWith(`${keys.replkey}/`), kidOf(rp));
  const [pdek] = await dp.unwrapDeks(dp.envelope(server));
  const renv = dp.envelope(rp);
  const [rdek] = await dp.unwrapDeks(renv);
  assert.ok(!pdek.equals(rdek), 'a replica has DEKs of its own');
  const file = path.join(dp.serverDir(rp), 'postgres.db');
  const plain = openAll(file, rdek, renv.deks[0].id);
  assert.ok(plain.includes(Buffer.from('phase-C')), 'the replica\'s DEK opens its file');
  assert.throws(() => openAll(file, pdek, renv.deks[0].id));
});

test('geo-redundant backup: a copy in the paired region under the geo key; geo-restore', async () => {
  await dp.advance('6m'); // a backup tick: archived, then copied to the paired region
  const geoDir = path.join(dp.c.data, 'geo', dp.pair, server);
  const genv = dp.envelope(server, geoDir);
  assert.ok(genv.kek.kid.startsWith(`${keys.geocmk}/`), `geo copy wrapped by the geo key: ${genv.kek.kid}`);
  assert.deepEqual(genv.deks.map((d) => d.id), dp.envelope(server).deks.map((d) => d.id));
  assert.ok(fs.readdirSync(path.join(geoDir, 'backups', 'postgres.db')).some((f) => f.endsWith('.full.db')));

  const g = dp.uniqueName('dpgeor');
  const s = await dp.createServer(g, copyBody('GeoRestore', { loc: dp.pair, id: ids.geo, key: keys.geocmk }));
  assert.equal(s.state, 'Ready');
  assert.equal(count(g), 110);
  assert.ok(kidOf(g).startsWith(`${keys.geocmk}/`));
});

test('geo-backup key lost: geo key status Invalid, geo-restore fails, the primary stays Ready', async () => {
  await dp.setPolicy(vaults.geo, ids.geo, 'remove');
  await dp.advance('1m');
  const p = await dp.arm.pg.servers.get(dp.rg, server);
  assert.equal(p.state, 'Ready');
  assert.equal(p.dataEncryption.primaryEncryptionKeyStatus, 'Valid');
  assert.equal(p.dataEncryption.geoBackupEncryptionKeyStatus, 'Invalid');
  // restored under a key the new server can use, the copy itself needs the geo key
  const e = await dp.createServer(dp.uniqueName('dpgeor'), copyBody('GeoRestore',
    { loc: dp.pair, id: ids.repl, key: keys.replkey })).catch((x) => x);
  assert.ok(e instanceof Error, 'a geo-restore without the geo-backup key must fail');
  assert.match(e.message, /key is not accessible/);
  assert.equal(count(server), 110, 'the primary keeps serving');
});
