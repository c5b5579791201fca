// pgbench.js: bench/dataplane part (c), run by bench/dataplane/run under tests/clients/with-serve:
// pgbench with the same custom scripts against an emulated CMK server (its own port) and against
// PostgreSQL 15 (Debian's, initdb'd into a temporary directory as the user postgres and started
// on loopback by this script), the same table (accounts, 100,000 rows), the same options
// (-n -M prepared -c 8 -j 2, TCP without TLS on both). Prints the TPS of each and the ratios.
//
// PostgreSQL runs with its defaults (fsync on, synchronous_commit on), and a second time for the
// update script with synchronous_commit=off: cmksim's commits are written to the WAL file but not
// fsynced (SQLite synchronous=NORMAL: nothing acknowledged is lost when the process is killed,
// a power loss could lose the last commits), which is what synchronous_commit=off promises.
// Environment: DP_BENCH_SECONDS (15), DP_BENCH_CLIENTS (8), DP_BENCH_JOBS (2), DP_BENCH_ROWS
// (100000).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const dp = require('../../tests/dataplane/lib/dp');

const seconds = Number(process.env.DP_BENCH_SECONDS || 15);
const clients = Number(process.env.DP_BENCH_CLIENTS || 8);
const jobs = Number(process.env.DP_BENCH_JOBS || 2);
const rows = Number(process.env.DP_BENCH_ROWS || 100000);
const PGBIN = '/usr/lib/postgresql/15/bin';
const scripts = {
  select: `\\set aid random(1, ${rows})\nSELECT abalance FROM accounts WHERE aid = :aid;\n`,
  update: `\\set aid random(1, ${rows})\nUPDATE accounts SET abalance = abalance + 1 WHERE aid = :aid;\n`,
};
const load = `CREATE TABLE accounts(aid int PRIMARY KEY, abalance int, filler text);
INSERT INTO accounts SELECT g, 0, repeat('x', 84) FROM generate_series(1, ${rows}) AS g;`;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function pgbench(conninfo, script, env) {
  const file = path.join(os.tmpdir(), `dpbench-${process.pid}.sql`);
  fs.writeFileSync(file, script);
  const out = run('pgbench', ['-n', '-f', file, '-M', 'prepared', '-c', String(clients), '-j',
    String(jobs), '-T', String(seconds), conninfo], { env: { ...process.env, ...env } });
  fs.rmSync(file, { force: true });
  const failed = Number((out.match(/number of failed transactions: (\d+)/) || [0, 0])[1]);
  if (failed) throw new Error(`pgbench: ${failed} failed transactions\n${out}`);
  return Number(out.match(/tps = ([\d.]+)/)[1]);
}

function freePort() {
  return Number(run('python3', ['-c', 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()']).trim());
}

// PostgreSQL 15 in a temporary directory, as the user postgres.
function startPg15() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dpbench-pg15-'));
  fs.chownSync(dir, Number(run('id', ['-u', 'postgres']).trim()), Number(run('id', ['-g', 'postgres']).trim()));
  const as = (args) => run('runuser', ['-u', 'postgres', '--', ...args]);
  as([`${PGBIN}/initdb`, '-D', `${dir}/data`, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = freePort();
  as([`${PGBIN}/pg_ctl`, '-D', `${dir}/data`, '-l', `${dir}/log`, '-w', '-o',
    `-p ${port} -k /tmp -c listen_addresses=127.0.0.1`, 'start']);
  return {
    conninfo: `host=127.0.0.1 port=${port} dbname=postgres user=postgres sslmode=disable`,
    psql: (sql) => run('psql', [`host=127.0.0.1 port=${port} dbname=postgres user=postgres sslmode=disable`, '-X', '-q', '-c', sql]),
    stop: () => {
      try { as([`${PGBIN}/pg_ctl`, '-D', `${dir}/data`, '-m', 'fast', '-w', 'stop']); } catch { /* gone */ }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const ratio = (a, b) => (a / b).toFixed(3);

(async () => {
  // the emulated server: CMK, its key in a vault, reached through its own port
  await dp.setup();
  const mi = await dp.identity('id-bench');
  const v = await dp.vault('kvbench', { policies: [[mi, dp.WRAP]] });
  await dp.keyClient(v).createRsaKey('cmk', { keySize: 2048 });
  const server = dp.uniqueName('dpbench');
  await dp.createServer(server, dp.serverBody({ key: `https://${v}.vault.azure.net/keys/cmk`, id: mi }));
  dp.psqlOk(server, load);
  const cmk = `host=127.0.0.1 port=${dp.ownPort(server)} dbname=postgres user=pgadmin sslmode=disable`;
  const pwenv = { PGPASSWORD: dp.PASSWORD };

  const pg = startPg15();
  try {
    pg.psql(load);
    pg.psql('VACUUM ANALYZE accounts');
    const res = {};
    // alternate the systems so that load from elsewhere falls on both
    res.cmkSelect = pgbench(cmk, scripts.select, pwenv);
    res.pgSelect = pgbench(pg.conninfo, scripts.select, {});
    res.cmkUpdate = pgbench(cmk, scripts.update, pwenv);
    res.pgUpdate = pgbench(pg.conninfo, scripts.update, {});
    pg.psql('ALTER SYSTEM SET synchronous_commit = off');
    pg.psql('SELECT pg_reload_conf()');
    res.pgUpdateAsync = pgbench(pg.conninfo, scripts.update, {});
    const load1 = os.loadavg()[0].toFixed(1);
    console.log(`(c) pgbench -n -M prepared -c ${clients} -j ${jobs} -T ${seconds}, table accounts (${rows} rows), TCP loopback without TLS (load average ${load1})`);
    console.log(`    select-only  cmksim (CMK server) ${res.cmkSelect.toFixed(0)} tps, PostgreSQL 15 ${res.pgSelect.toFixed(0)} tps: ratio ${ratio(res.cmkSelect, res.pgSelect)} (aim >= 1.0)`);
    console.log(`    update       cmksim ${res.cmkUpdate.toFixed(0)} tps, PostgreSQL 15 ${res.pgUpdate.toFixed(0)} tps (fsync per commit): ratio ${ratio(res.cmkUpdate, res.pgUpdate)}; ` +
      `with synchronous_commit=off ${res.pgUpdateAsync.toFixed(0)} tps: ratio ${ratio(res.cmkUpdate, res.pgUpdateAsync)} (aim >= 0.8)`);
    const sum = Number(dp.psqlOk(server, 'SELECT sum(abalance) FROM accounts'));
    if (!(sum > 0)) throw new Error('the updates did not land on the emulated server');
  } finally {
    pg.stop();
  }
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
