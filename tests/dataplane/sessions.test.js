// sessions.test.js: an emulated CMK server as PostgreSQL clients see it (issue 6, Tests):
// psql (tables, rows, transactions, errors with SQLSTATE), node-postgres (parameters, types,
// transactions, errors), pgbench select-only and update scripts in simple and prepared mode,
// CREATE DATABASE with a DEK of its own, then what is on disk: no inserted plaintext and no DEK
// byte anywhere under the state directory, a tampered page an error (never wrong data), and
// SIGKILL during inserts: every acknowledged row is there after the restart.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const dp = require('./lib/dp');
const { openAll } = require('./lib/pages');

const MARKER = `plaintext-marker-${process.pid}-7f3a9c`;
const server = dp.uniqueName('dpsess');
let key;

test.before(async () => {
  await dp.setup();
  const mi = await dp.identity('id-sess');
  const v = await dp.vault('kvsess', { policies: [[mi, dp.WRAP]] });
  await dp.keyClient(v).createRsaKey('cmk', { keySize: 2048 });
  key = `https://${v}.vault.azure.net/keys/cmk`;
  const s = await dp.createServer(server, dp.serverBody({ key, id: mi }));
  assert.equal(s.state, 'Ready');
});

test('psql over TLS (verify-full, SNI): tables, rows, transactions, errors with SQLSTATE', () => {
  dp.psqlOk(server, `CREATE TABLE notes(id int PRIMARY KEY, body text NOT NULL, n float8, ok bool)`);
  dp.psqlOk(server, `INSERT INTO notes VALUES (1, '${MARKER}-one', 1.5, true), (2, 'two', NULL, false)`);
  assert.equal(dp.psqlOk(server, 'SELECT id, body FROM notes ORDER BY id'), `1|${MARKER}-one\n2|two`);
  assert.equal(dp.psqlOk(server, 'SELECT count(*) FROM notes WHERE ok'), '1');
  // a transaction rolled back leaves nothing; a committed one stays
  dp.psqlOk(server, null, { args: ['-c', 'BEGIN', '-c', `INSERT INTO notes VALUES (3, 'gone', 0, true)`, '-c', 'ROLLBACK'] });
  dp.psqlOk(server, null, { args: ['-c', 'BEGIN', '-c', `INSERT INTO notes VALUES (4, 'kept', 0, true)`, '-c', 'COMMIT'] });
  assert.equal(dp.psqlOk(server, 'SELECT id FROM notes ORDER BY id'), '1\n2\n4');
  // errors carry their SQLSTATE
  let r = dp.psql(server, `INSERT INTO notes VALUES (1, 'dup', 0, true)`);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /ERROR:\s+23505/);
  r = dp.psql(server, 'SELECT * FROM no_such_table');
  assert.match(r.stderr, /ERROR:\s+42P01/);
  r = dp.psql(server, 'SELEC 1');
  assert.match(r.stderr, /ERROR:\s+42601/);
  // a wrong password is refused (28P01) and the meta-commands answer
  r = dp.psql(server, 'SELECT 1', { password: 'wrong' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /password authentication failed/);
  assert.match(dp.psqlOk(server, null, { args: ['-c', '\\dt'] }), /notes/);
});

test('node-postgres: parameters, types, transactions, errors', async () => {
  const cl = await dp.pgClient(server);
  try {
    await cl.query('CREATE TABLE items(id bigint PRIMARY KEY, name text, price float8, blob bytea, flag bool)');
    for (let i = 1; i <= 20; i++)
      await cl.query('INSERT INTO items VALUES ($1, $2, $3, $4, $5)', [i, `${MARKER}-item-${i}`, i * 1.25, Buffer.from([i, 0, 255]), i % 2 === 0]);
    const r = await cl.query('SELECT id, name, price, blob, flag FROM items WHERE id = $1', [7]);
    assert.equal(r.rows.length, 1);
    assert.equal(String(r.rows[0].id), '7');
    assert.equal(r.rows[0].name, `${MARKER}-item-7`);
    assert.equal(Number(r.rows[0].price), 8.75);
    assert.deepEqual([...r.rows[0].blob], [7, 0, 255]);
    assert.equal(r.rows[0].flag, false);
    await cl.query('BEGIN');
    await cl.query('UPDATE items SET price = 0 WHERE id <= $1', [10]);
    await cl.query('ROLLBACK');
    assert.equal(Number((await cl.query('SELECT count(*) AS n FROM items WHERE price = 0')).rows[0].n), 0);
    await cl.query('BEGIN');
    await cl.query('DELETE FROM items WHERE id > $1', [15]);
    await cl.query('COMMIT');
    assert.equal(Number((await cl.query('SELECT count(*) AS n FROM items')).rows[0].n), 15);
    const e = await cl.query('INSERT INTO items(id) VALUES ($1)', [3]).catch((x) => x);
    assert.equal(e.code, '23505');
    // the session recovers after an error
    assert.equal((await cl.query('SELECT 1 AS one')).rows[0].one, 1);
  } finally {
    await cl.end();
  }
});

test('pgbench select-only and update scripts, -M simple and -M prepared: no failed transaction', () => {
  dp.psqlOk(server, 'CREATE TABLE accounts(aid int PRIMARY KEY, abalance int, filler text)');
  dp.psqlOk(server, `INSERT INTO accounts SELECT g, 0, repeat('x', 84) FROM generate_series(1, 10000) AS g`);
  assert.equal(dp.psqlOk(server, 'SELECT count(*) FROM accounts'), '10000');
  const select = '\\set aid random(1, 10000)\nSELECT abalance FROM accounts WHERE aid = :aid;\n';
  const update = '\\set aid random(1, 10000)\nUPDATE accounts SET abalance = abalance + 1 WHERE aid = :aid;\n';
  let updates = 0;
  for (const mode of ['simple', 'prepared']) {
    for (const [name, script] of [['select', select], ['update', update]]) {
      const r = dp.pgbench(server, script, { mode, clients: 4, jobs: 2, seconds: 2 });
      assert.equal(r.status, 0, r.out);
      assert.equal(r.failed, 0, r.out);
      assert.ok(r.tps > 0, r.out);
      const txns = Number((r.out.match(/number of transactions actually processed: (\d+)/) || [])[1]);
      if (name === 'update') updates += txns;
      console.log(`pgbench ${name} -M ${mode}: ${r.tps.toFixed(0)} tps`);
    }
  }
  assert.equal(Number(dp.psqlOk(server, 'SELECT sum(abalance) FROM accounts')), updates, 'every update counted');
});

test('CREATE DATABASE: a file with a DEK of its own', async () => {
  dp.psqlOk(server, 'CREATE DATABASE app');
  dp.psqlOk(server, `CREATE TABLE t(v text); INSERT INTO t VALUES ('${MARKER}-app')`, { db: 'app' });
  assert.equal(dp.psqlOk(server, 'SELECT v FROM t', { db: 'app' }), `${MARKER}-app`);
  const env = dp.envelope(server);
  const files = env.deks.map((d) => d.file).sort();
  assert.deepEqual(files, ['app.db', 'postgres.db']);
  assert.notEqual(env.deks[0].id, env.deks[1].id);
  assert.match(env.kek.kid, new RegExp(`^${key}/[0-9a-f]+$`), 'wrapped with the key version in use');
  const deks = await dp.unwrapDeks(env);
  assert.ok(!deks[0].equals(deks[1]), 'two databases, two DEKs');
});

test('on disk: no inserted plaintext, no DEK byte, anywhere under the state directory', async () => {
  const env = dp.envelope(server);
  const deks = await dp.unwrapDeks(env);
  // the DEKs really open the files: the plaintext is in there, under them
  await dp.arm.pg.servers.beginRestartAndWait(dp.rg, server, dp.poll); // WAL into the files
  const pg = env.deks.find((d) => d.file === 'postgres.db');
  const plain = openAll(path.join(dp.serverDir(server), 'postgres.db'), deks[env.deks.indexOf(pg)], pg.id);
  assert.ok(plain.includes(Buffer.from(`${MARKER}-one`)), 'decrypted with its DEK, the row is there');
  const needles = [Buffer.from(MARKER), Buffer.from('notes'), Buffer.from('accounts')];
  for (const k of deks) {
    needles.push(k, Buffer.from(k.toString('hex')), Buffer.from(k.toString('base64')),
      Buffer.from(k.toString('base64url')));
  }
  const hits = dp.scan(dp.c.data, needles);
  assert.deepEqual(hits, [], 'plaintext or DEK bytes found on disk');
  // the files exist and are not empty: the scan looked at real data
  const files = dp.walk(dp.c.data).map((f) => path.relative(dp.c.data, f));
  assert.ok(files.some((f) => f.endsWith(`${server}/postgres.db`)));
  assert.ok(files.some((f) => f.includes(`${server}/backups/postgres.db/`)));
  assert.equal(fs.statSync(path.join(dp.serverDir(server), 'envelope.json')).mode & 0o077, 0, 'envelope is 0600');
});

test('a page tampered on disk is an error, never wrong data', async () => {
  dp.psqlOk(server, 'CREATE DATABASE tamper');
  dp.psqlOk(server, `CREATE TABLE t(id int PRIMARY KEY, v text);
    INSERT INTO t SELECT g, 'row-' || g || '-' || repeat('y', 100) FROM generate_series(1, 300) AS g`, { db: 'tamper' });
  // a restart closes every connection: the last close moves the WAL into the database file
  await dp.arm.pg.servers.beginRestartAndWait(dp.rg, server, dp.poll);
  const file = path.join(dp.serverDir(server), 'tamper.db');
  const size = fs.statSync(file).size;
  assert.ok(size >= 4 * 4096, `tamper.db has ${size} bytes`);
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, 4096 + 700); // inside page 2's ciphertext: the table's root page
  b[0] ^= 0x01;
  fs.writeSync(fd, b, 0, 1, 4096 + 700);
  fs.closeSync(fd);
  const r = dp.psql(server, 'SELECT count(*), sum(length(v)) FROM t', { db: 'tamper' });
  assert.notEqual(r.status, 0, `a tampered page must not read: ${r.stdout}`);
  assert.match(r.stderr, /ERROR|FATAL/);
  assert.doesNotMatch(r.stdout, /^\d+\|\d+$/m, 'no result computed from a forged page');
  // the rest of the server is unharmed
  assert.equal(dp.psqlOk(server, 'SELECT count(*) FROM notes'), '3');
});

test('SIGKILL during inserts, restart: every acknowledged row is there', async () => {
  dp.psqlOk(server, 'CREATE TABLE crash(id int PRIMARY KEY, v text)');
  const cl = await dp.pgClient(server);
  cl.on('error', () => {});
  const acked = [];
  let stop = false;
  const writer = (async () => {
    for (let i = 1; !stop; i++) {
      try {
        await cl.query('INSERT INTO crash VALUES ($1, $2)', [i, `v${i}`]);
        acked.push(i);
      } catch {
        return;
      }
    }
  })();
  while (acked.length < 300) await dp.c.sleep(5);
  await dp.c.restartHard(); // kill -9 while the writer is inserting
  stop = true;
  await writer;
  // the control plane unlocks the server again at start: its DEKs are unwrapped anew
  let rows;
  for (let i = 0; i < 100; i++) {
    const r = dp.psql(server, 'SELECT id FROM crash ORDER BY id');
    if (r.status === 0) {
      rows = new Set(r.stdout.trim().split('\n').map(Number));
      break;
    }
    await dp.c.sleep(100);
  }
  assert.ok(rows, 'the server accepts logins after the restart');
  const missing = acked.filter((id) => !rows.has(id));
  assert.deepEqual(missing, [], `${acked.length} acknowledged rows`);
  console.log(`acknowledged ${acked.length} rows before kill -9; ${rows.size} rows after restart`);
});
