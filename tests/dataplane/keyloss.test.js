// keyloss.test.js: a server's key over time (issue 6). A new key version (R12): the DEKs are
// re-wrapped, no data byte changes, an open session keeps working. Losing the key (R9-R11): the
// identity's access policy is revoked through ARM, the key monitor runs on the clock (timing
// profile "instant"), open sessions end with FATAL 57P01, new logins are refused with FATAL
// 57P03 naming the key, resource health turns Unavailable; re-granting the policy lets them back
// with every row intact. Then crypto-shredding (R2): the key is deleted and purged, and nothing
// can open the data any more although its files are still there.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const dp = require('./lib/dp');
const { openAll } = require('./lib/pages');

const MARKER = `shred-marker-${process.pid}-c41d`;
const server = dp.uniqueName('dploss');
let mi;
let vaultName;
let key;

test.before(async () => {
  await dp.setup();
  mi = await dp.identity('id-loss');
  vaultName = await dp.vault('kvloss', { policies: [[mi, dp.WRAP]] });
  await dp.keyClient(vaultName).createRsaKey('cmk', { keySize: 2048 });
  await dp.keyClient(vaultName).createRsaKey('shred', { keySize: 2048 });
  key = `https://${vaultName}.vault.azure.net/keys/cmk`;
  await dp.createServer(server, dp.serverBody({ key, id: mi }));
  dp.psqlOk(server, 'CREATE TABLE t(id int PRIMARY KEY, v text)');
  dp.psqlOk(server, `INSERT INTO t SELECT g, 'row' || g FROM generate_series(1, 100) AS g`);
});

async function waitFor(cond, what, ms = 5000) {
  for (let t = 0; t < ms; t += 20) {
    if (await cond()) return;
    await dp.c.sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('key rotation (R12): the DEKs re-wrapped with the new version, no data rewritten, no downtime', async () => {
  const crypto = require('node:crypto');
  const file = path.join(dp.serverDir(server), 'postgres.db');
  const fs = require('node:fs');
  await dp.arm.pg.servers.beginRestartAndWait(dp.rg, server, dp.poll); // the WAL into the file
  const session = await dp.pgClient(server);
  session.on('error', () => {});
  const before = dp.envelope(server);
  const hash = () => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const h1 = hash();
  const v2 = await dp.keyClient(vaultName).createRsaKey('cmk', { keySize: 2048 }); // a new version
  await dp.advance('1m'); // the monitor follows the versionless URI to it
  const after = dp.envelope(server);
  assert.equal(after.kek.kid, v2.id, 'wrapped by the new version');
  assert.notEqual(before.kek.kid, after.kek.kid);
  assert.deepEqual(after.deks.map((d) => d.id), before.deks.map((d) => d.id), 'the same DEKs');
  assert.notEqual(after.deks[0].wrapped.value, before.deks[0].wrapped.value);
  assert.equal(hash(), h1, 'no data byte rewritten');
  assert.equal((await session.query('SELECT count(*) AS n FROM t')).rows[0].n, '100', 'the open session kept working');
  await session.end();
  assert.equal((await dp.arm.pg.servers.get(dp.rg, server)).state, 'Ready');
});

test('key loss: sessions end with 57P01, logins are refused with 57P03; recovery lets them back', async () => {
  const errors = [];
  const sessions = [];
  for (let i = 0; i < 2; i++) {
    const cl = await dp.pgClient(server);
    cl.on('error', (e) => errors.push(e));
    assert.equal((await cl.query('SELECT count(*) AS n FROM t')).rows[0].n, '100');
    sessions.push(cl);
  }
  await sessions[1].query('BEGIN');
  await sessions[1].query(`INSERT INTO t VALUES (1000, 'in flight')`);

  await dp.setPolicy(vaultName, mi, 'remove');
  await dp.advance('1m'); // the key monitor's next checks (every 30 s in "instant")

  const fatal = () => errors.filter((e) => e.code === '57P01');
  await waitFor(() => fatal().length === 2, `both sessions to end (${errors.map((e) => e.message)})`);
  for (const e of fatal()) {
    assert.equal(e.code, '57P01', e.message);
    assert.equal(e.severity, 'FATAL');
    assert.ok(e.message.includes(key), `the message names the key: ${e.message}`);
  }
  const refused = await dp.pgClient(server).catch((e) => e);
  assert.ok(refused instanceof Error, 'a new login must be refused');
  assert.equal(refused.code, '57P03');
  assert.match(refused.message, /customer-managed key is not accessible/);
  assert.ok(refused.message.includes(key), refused.message);
  const r = dp.psql(server, 'SELECT 1');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /FATAL:\s+the server's customer-managed key is not accessible: https:\/\//);
  console.log(`psql: ${r.stderr.trim()}`);

  const s = await dp.arm.pg.servers.get(dp.rg, server);
  assert.equal(s.state, 'Inaccessible');
  assert.equal(s.dataEncryption.primaryEncryptionKeyStatus, 'Invalid');
  const health = await dp.c.request('GET', `${dp.mgmt}${s.id}/providers/Microsoft.ResourceHealth/availabilityStatuses/current?api-version=2023-10-01-preview`,
    { token: await dp.mgmtToken() });
  assert.equal(health.status, 200);
  assert.equal(health.body.properties.availabilityState, 'Unavailable', JSON.stringify(health.body));

  await dp.setPolicy(vaultName, mi, 'add');
  await dp.advance('1m');
  assert.equal((await dp.arm.pg.servers.get(dp.rg, server)).state, 'Ready');
  const back = await dp.pgClient(server);
  try {
    assert.equal((await back.query('SELECT count(*) AS n FROM t')).rows[0].n, '100', 'the uncommitted row is gone, the rest is there');
    await back.query(`INSERT INTO t VALUES (101, 'after recovery')`);
  } finally {
    await back.end();
  }
  for (const cl of sessions) await cl.end().catch(() => {});
  // no more timers for this server while the clock jumps 90 days below
  await dp.arm.pg.servers.beginDeleteAndWait(dp.rg, server, dp.poll);
});

test('crypto-shredding: the key purged, the data cannot be opened by anyone', async () => {
  const name = dp.uniqueName('dpshred');
  const shredKey = `https://${vaultName}.vault.azure.net/keys/shred`;
  await dp.createServer(name, dp.serverBody({ key: shredKey, id: mi }));
  dp.psqlOk(name, `CREATE TABLE secrets(v text); INSERT INTO secrets VALUES ('${MARKER}')`);
  await dp.arm.pg.servers.beginRestartAndWait(dp.rg, name, dp.poll); // the WAL moves into the file
  const env = dp.envelope(name);
  assert.equal(env.deks.length, 1);
  const [dek] = await dp.unwrapDeks(env);
  const file = path.join(dp.serverDir(name), 'postgres.db');
  assert.ok(openAll(file, dek, env.deks[0].id).includes(Buffer.from(MARKER)),
    'while the key exists, its DEK opens the file');

  // the server goes (its backups and envelope stay, sealed), the key is deleted and purged
  await dp.arm.pg.servers.beginDeleteAndWait(dp.rg, name, dp.poll);
  const kc = dp.keyClient(vaultName);
  await (await kc.beginDeleteKey('shred', { intervalInMs: 50 })).pollUntilDone();
  await dp.advance('91d'); // past the 90 days of soft-delete retention: the vault purges it
  dp.refresh();
  await dp.rejects(dp.keyClient(vaultName).getDeletedKey('shred'), { statusCode: 404 });

  const kept = path.join(dp.c.data, 'dropped', name);
  const files = dp.walk(kept).map((f) => path.relative(kept, f));
  assert.ok(files.includes('envelope.json') && files.some((f) => f.endsWith('.full.db')),
    `the sealed files are still there: ${files}`);
  // the wrapped DEK cannot be unwrapped by anyone, not even the vault's administrator
  const e = await dp.unwrapDeks(dp.envelope(name, kept)).catch((x) => x);
  assert.ok(e instanceof Error, 'unwrap must fail');
  assert.equal(e.statusCode, 404, e.message);
  // and neither the DEK nor the plaintext exists anywhere at rest
  const needles = [Buffer.from(MARKER), dek, Buffer.from(dek.toString('base64')),
    Buffer.from(dek.toString('base64url')), Buffer.from(dek.toString('hex'))];
  assert.deepEqual(dp.scan(dp.c.data, needles), []);
});
