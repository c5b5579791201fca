// node_pg.js: node-postgres against the endpoint (port in argv[2], user admin, password
// secret). node-postgres uses the extended protocol for parameterised queries (Parse, Bind,
// Describe portal, Execute, Sync) and the simple protocol otherwise; this checks values and
// types as an application sees them, errors with their codes, and transactions.
'use strict';
const assert = require('assert');
const { Client } = require('pg');

(async () => {
  const c = new Client({ host: '127.0.0.1', port: Number(process.argv[2]), user: 'admin',
                         password: 'secret', database: 'postgres' });
  await c.connect();
  await c.query('drop table if exists node_items');
  await c.query(`create table node_items(id serial primary key, name text not null,
                 price numeric(10,2), qty int, big bigint, active boolean default true,
                 created timestamptz default now(), data bytea)`);
  let r = await c.query(
    'insert into node_items(name, price, qty, big, data) values ($1, $2, $3, $4, $5) returning *',
    ['apple', 1.5, 3, '9007199254740993', Buffer.from([1, 2, 3])]);
  assert.strictEqual(r.command, 'INSERT');
  assert.strictEqual(r.rowCount, 1);
  assert.strictEqual(r.rows[0].id, 1);
  assert.strictEqual(r.rows[0].price, '1.50');
  assert.strictEqual(r.rows[0].qty, 3);
  assert.strictEqual(r.rows[0].big, '9007199254740993');
  assert.strictEqual(r.rows[0].active, true);
  assert.ok(r.rows[0].created instanceof Date);
  assert.deepStrictEqual(r.rows[0].data, Buffer.from([1, 2, 3]));
  await c.query('insert into node_items(name, qty, active) values ($1, $2, $3)', ['pear', 7, false]);
  r = await c.query('select name from node_items where active = $1 order by id', [false]);
  assert.deepStrictEqual(r.rows, [{ name: 'pear' }]);
  r = await c.query('select count(*), sum(qty) as total from node_items where qty > $1', [1]);
  assert.deepStrictEqual(r.rows, [{ count: '2', total: '10' }]);
  r = await c.query({ text: 'select id, name from node_items order by id', rowMode: 'array' });
  assert.deepStrictEqual(r.rows, [[1, 'apple'], [2, 'pear']]);
  r = await c.query('select $1::text as t, $2::int as i', ['x', '5']);
  assert.deepStrictEqual(r.rows, [{ t: 'x', i: 5 }]);
  await assert.rejects(c.query('insert into node_items(id, name) values ($1, $2)', [1, 'dup']),
                       e => e.code === '23505' && e.detail === 'Key (id) already exists.' &&
                            e.constraint === 'node_items_pkey' && e.table === 'node_items');
  await assert.rejects(c.query('insert into node_items(qty) values ($1)', [1]),
                       e => e.code === '23502' && e.column === 'name');
  await c.query('create table node_arrays(tags text[], nums int[], doc jsonb)');
  await c.query('insert into node_arrays values ($1, $2, $3)', [['a', 'b c'], [1, 2], { k: [1] }]);
  r = await c.query('select * from node_arrays');
  assert.deepStrictEqual(r.rows, [{ tags: ['a', 'b c'], nums: [1, 2], doc: { k: [1] } }]);
  await c.query('drop table node_arrays');
  await assert.rejects(c.query('select * from nope where x = $1', [1]), { code: '42P01' });
  await c.query('begin');
  await c.query('update node_items set qty = qty + $1 where id = $2', [10, 1]);
  await assert.rejects(c.query('select bad syntax here'), { code: '42601' });
  await assert.rejects(c.query('select 1'), { code: '25P02' });
  await c.query('rollback');
  r = await c.query('select qty from node_items where id = $1', [1]);
  assert.strictEqual(r.rows[0].qty, 3);
  // many parameterised queries in a row (prepared by name)
  for (let i = 0; i < 50; i++) {
    r = await c.query({ name: 'by-id', text: 'select name from node_items where id = $1',
                        values: [1 + (i % 2)] });
    assert.strictEqual(r.rows[0].name, i % 2 ? 'pear' : 'apple');
  }
  await c.query('drop table node_items');
  await c.end();
  console.log('node-postgres: all checks passed');
})().catch(e => { console.error('node-postgres FAIL', e); process.exit(1); });
