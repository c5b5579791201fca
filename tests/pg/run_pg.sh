#!/usr/bin/env bash
# run_pg.sh: the PostgreSQL endpoint against real clients (psql, pgbench, node-postgres when
# installed). Usage: run_pg.sh PGTEST_SERVER TESTS_PG_DIR PROJECT_DIR
# Starts pgtest_server on 127.0.0.1 (port 0) over a temporary directory, drives it, and asserts
# what a user sees: logins (SCRAM and cleartext, TLS and not), psql's meta-commands, errors
# with their SQLSTATE, transactions, databases and roles, pgbench with no failed transactions,
# SNI routing, the 57P03 refusal of a server that is not ready and the 57P01 end of sessions.
set -u
SERVER=$1
HERE=$2
ROOT=${3:-}
WORK=$(mktemp -d /tmp/pgtest.XXXXXX)
SPID=
fails=0

cleanup() {
    exec 3>&- 2>/dev/null
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

mkfifo "$WORK/ctl"
"$SERVER" --dir "$WORK" < "$WORK/ctl" > "$WORK/out" 2> "$WORK/err" &
SPID=$!
exec 3> "$WORK/ctl"
for _ in $(seq 1 300); do
    grep -q 'main=' "$WORK/out" 2>/dev/null && break
    sleep 0.1
done
line=$(head -1 "$WORK/out")
port() { echo "$line" | sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
MAIN=$(port main); CLEAR=$(port clear); REPLICA=$(port replica); SHARED=$(port shared)
CA=$(port ca)
if [ -z "$MAIN" ]; then
    echo "FAIL: pgtest_server did not start"; cat "$WORK/err"; exit 1
fi
echo "pgtest_server: $line"

export PGPASSWORD=secret PGCONNECT_TIMEOUT=10 PGAPPNAME=run_pg
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; shift; printf '%s\n' "$@" | sed 's/^/     /'; fails=$((fails + 1)); }
# expect NAME NEEDLE OUTPUT: OUTPUT contains NEEDLE (fixed string)
expect() {
    if printf '%s' "$3" | grep -qF -- "$2"; then ok "$1"; else bad "$1" "wanted: $2" "got:" "$3"; fi
}
conn() { echo "host=127.0.0.1 port=$1 user=${3:-admin} dbname=${4:-postgres} sslmode=$2"; }
sql() { psql "$(conn "$MAIN" disable)" -X -q -A -t -c "$1" 2>&1; }
ctl() { # send a command to the server and print its one-line answer
    local before
    before=$(wc -l < "$WORK/out")
    echo "$*" >&3
    for _ in $(seq 1 100); do
        [ "$(wc -l < "$WORK/out")" -gt "$before" ] && break
        sleep 0.05
    done
    tail -1 "$WORK/out"
}

# ---- logins ----
out=$(psql "$(conn "$MAIN" require)" -X -c '\conninfo' 2>&1)
expect "SCRAM over TLS" "SSL connection (protocol: TLSv1.3" "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -A -t -c 'select current_user, current_database()' 2>&1)
expect "SCRAM in clear" "admin|postgres" "$out"
out=$(PGPASSWORD=wrong psql "$(conn "$MAIN" disable)" -X -c 'select 1' 2>&1)
expect "wrong password" 'password authentication failed for user "admin"' "$out"
out=$(psql "$(conn "$CLEAR" require)" -X -A -t -c 'select 41 + 1' 2>&1)
expect "cleartext password over TLS" "42" "$out"
out=$(psql "$(conn "$CLEAR" disable)" -X -A -t -c 'show server_version' 2>&1)
expect "cleartext password, ParameterStatus" "16.4" "$out"

# ---- SNI routing on the shared port ----
out=$(psql "host=main.postgres.database.azure.com hostaddr=127.0.0.1 port=$SHARED user=admin \
dbname=postgres sslmode=verify-full sslrootcert=$CA" -X -A -t -c 'select inet_server_port()' 2>&1)
expect "SNI cloud name, verify-full" "$SHARED" "$out"
out=$(psql "host=main.postgres.localhost hostaddr=127.0.0.1 port=$SHARED user=admin \
dbname=postgres sslmode=verify-full sslrootcert=$CA" -X -A -t -c 'select 1' 2>&1)
expect "SNI local name, verify-full" "1" "$out"
out=$(psql "host=127.0.0.1 port=$SHARED user=admin@main dbname=postgres sslmode=disable" -X -A -t \
    -c 'select current_user' 2>&1)
expect "shared port without SNI: user@server" "admin" "$out"
out=$(psql "host=nosuch.postgres.database.azure.com hostaddr=127.0.0.1 port=$SHARED user=admin \
dbname=postgres sslmode=verify-full sslrootcert=$CA" -X -c 'select 1' 2>&1)
expect "SNI of an unknown server" 'server "nosuch" does not exist' "$out"

# ---- DDL, DML, psql meta-commands ----
out=$(psql "$(conn "$MAIN" disable)" -X -v ON_ERROR_STOP=1 2>&1 <<'EOF'
create table accounts(aid int primary key, abalance int, filler text) with (fillfactor=100);
insert into accounts select i, 0, 'filler' from generate_series(1, 10000) as i;
create index on accounts(abalance);
create table notes(id serial primary key, body text not null, created timestamptz default now(),
                   flag boolean default false, payload bytea);
insert into notes(body, payload) values ('first', '\x0102'::bytea), ('second', NULL);
select count(*), sum(aid) from accounts;
select id, body, flag, payload from notes order by id;
EOF
)
expect "CREATE TABLE ... WITH (fillfactor)" "CREATE TABLE" "$out"
expect "INSERT ... SELECT FROM generate_series" "INSERT 0 10000" "$out"
expect "aggregates" "10000 | 50005000" "$out"
expect "bool and bytea output" "1 | first  | f    | \\x0102" "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -c '\dt' 2>&1)
expect '\dt' " public | accounts | table | admin" "$out"
expect '\dt lists notes' " public | notes    | table | admin" "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -c '\d accounts' 2>&1)
expect '\d accounts: title' 'Table "public.accounts"' "$out"
expect '\d accounts: column' " aid      | integer |           | not null | " "$out"
expect '\d accounts: primary key' '"accounts_pkey" PRIMARY KEY, btree (aid)' "$out"
expect '\d accounts: index' '"accounts_abalance_idx" btree (abalance)' "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -c '\d+ accounts' 2>&1)
expect '\d+ accounts' 'Access method: heap' "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -c '\d notes' 2>&1)
expect '\d notes: default' "timestamp with time zone |           |          | now()" "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -c '\l' 2>&1)
expect '\l' " postgres | admin | UTF8" "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -c '\du' 2>&1)
expect '\du' " admin " "$out"

# ---- errors, with SQLSTATE ----
out=$(psql "$(conn "$MAIN" disable)" -X 2>&1 <<'EOF'
\set VERBOSITY verbose
select * from nosuch;
select nosuchcol from accounts;
selec 1;
insert into accounts values (1, 0, 'dup');
insert into notes(body) values (null);
select 'maybe'::boolean;
attach database '/tmp/x.db' as x;
pragma key = 'x';
EOF
)
expect "42P01" 'ERROR:  42P01: relation "nosuch" does not exist' "$out"
expect "42703" 'ERROR:  42703: column "nosuchcol" does not exist' "$out"
expect "42601" 'ERROR:  42601: syntax error at or near "selec"' "$out"
expect "23505" 'ERROR:  23505: duplicate key value violates unique constraint "accounts_pkey"' "$out"
expect "23505 detail" 'DETAIL:  Key (aid) already exists.' "$out"
expect "23502" 'ERROR:  23502: null value in column "body" of relation "notes" violates not-null constraint' "$out"
expect "22P02" 'ERROR:  22P02: invalid input syntax for type boolean: "maybe"' "$out"
expect "ATTACH refused" 'ERROR:  42501: permission denied: ATTACH' "$out"
expect "PRAGMA refused" 'ERROR:  42501: permission denied: PRAGMA key' "$out"

# ---- multi-statement queries and transactions ----
out=$(sql "insert into notes(body) values ('a'); insert into notes(body) values ('b'); select count(*) from notes")
expect "multi-statement query" "4" "$out"
out=$(sql "insert into notes(body) values ('c'); select * from nosuch")
out=$(sql "select count(*) from notes where body = 'c'")
expect "multi-statement query is one transaction" "0" "$out"
out=$(psql "$(conn "$MAIN" disable)" -X 2>&1 <<'EOF'
\set VERBOSITY verbose
begin;
insert into notes(body) values ('in tx');
select 1 from nosuch;
select 1;
commit;
select count(*) as in_tx from notes where body = 'in tx';
begin;
update accounts set abalance = abalance + 5 where aid = 7;
savepoint s1;
update accounts set abalance = abalance + 100 where aid = 7;
rollback to savepoint s1;
commit;
select abalance from accounts where aid = 7;
commit;
EOF
)
expect "failed transaction" 'ERROR:  25P02: current transaction is aborted, commands ignored until end of transaction block' "$out"
expect "COMMIT of a failed transaction rolls back" "ROLLBACK" "$out"
expect "rolled back row" "     0" "$out"
expect "savepoints" "        5" "$out"
expect "COMMIT outside a transaction" "WARNING:  25P01: there is no transaction in progress" "$out"

# ---- read-only replica ----
out=$(psql "$(conn "$REPLICA" disable)" -X -c "insert into notes(body) values ('x')" 2>&1)
expect "replica refuses writes (25006)" "cannot execute INSERT in a read-only transaction" "$out"
out=$(psql "$(conn "$REPLICA" disable)" -X -A -t -c "select count(*) from accounts" 2>&1)
expect "replica reads" "10000" "$out"

# ---- databases and roles ----
out=$(psql "$(conn "$MAIN" disable)" -X -c "create database shop" 2>&1)
expect "CREATE DATABASE" "CREATE DATABASE" "$out"
[ -f "$WORK/shop.db" ] && ok "one SQLite file per database" || bad "one SQLite file per database" "$(ls "$WORK")"
out=$(psql "$(conn "$MAIN" disable admin shop)" -X -A -t \
    -c "create table items(id serial primary key, name text)" \
    -c "insert into items(name) values ('x') returning id" -c "select current_database()" 2>&1)
expect "connect to a database by name" "shop" "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -c '\l' 2>&1)
expect '\l lists shop' " shop     | admin" "$out"
out=$(sql "create role app with login password 'apppw'")
out=$(PGPASSWORD=apppw psql "$(conn "$MAIN" require app shop)" -X -A -t -c "select current_user" 2>&1)
expect "role created with SQL logs in (SCRAM)" "app" "$out"
out=$(PGPASSWORD=apppw psql "$(conn "$CLEAR" disable app)" -X -A -t -c "select current_user" 2>&1)
expect "role created with SQL logs in (cleartext)" "app" "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -c '\du' 2>&1)
expect '\du lists app' " app " "$out"
out=$(sql "drop database shop")
[ ! -f "$WORK/shop.db" ] && ok "DROP DATABASE removes the file" || bad "DROP DATABASE" "$out"
out=$(psql "$(conn "$MAIN" disable admin shop)" -X -c 'select 1' 2>&1)
expect "dropped database" 'database "shop" does not exist' "$out"

# ---- pgbench, the scripts of BENCHMARKS.md on a table made with psql ----
printf '\\set aid random(1, 10000)\nSELECT abalance FROM accounts WHERE aid = :aid;\n' \
    > "$WORK/select.sql"
printf '\\set aid random(1, 10000)\nUPDATE accounts SET abalance = abalance + 1 WHERE aid = :aid;\n' \
    > "$WORK/update.sql"
printf '\\set aid random(1, 10000)\nBEGIN;\nUPDATE accounts SET abalance = abalance + 1 WHERE aid = :aid;\nSELECT abalance FROM accounts WHERE aid = :aid;\nEND;\n' \
    > "$WORK/tx.sql"
for script in select update tx; do
    for mode in simple prepared; do
        secs=2
        [ $script = tx ] && secs=1
        out=$(pgbench -n -f "$WORK/$script.sql" -M $mode -c 4 -j 2 -T $secs \
            "$(conn "$MAIN" disable)" 2>&1)
        if printf '%s' "$out" | grep -q "number of failed transactions: 0 " &&
            printf '%s' "$out" | grep -qE "processed: [1-9]"; then
            ok "pgbench $script -M $mode: $(printf '%s' "$out" | grep -o 'processed: [0-9]*')"
        else
            bad "pgbench $script -M $mode" "$out"
        fi
    done
done

# ---- node-postgres (extended protocol), when the client tests installed it ----
if [ -n "$ROOT" ] && [ -d "$ROOT/tests/clients/node_modules/pg" ] && command -v node >/dev/null; then
    out=$(NODE_PATH="$ROOT/tests/clients/node_modules" node "$HERE/node_pg.js" "$MAIN" 2>&1)
    expect "node-postgres" "node-postgres: all checks passed" "$out"
else
    echo "skip node-postgres (not installed)"
fi

# ---- cancel: psql sends CancelRequest on SIGINT ----
psql "$(conn "$MAIN" disable)" -X -c 'select pg_sleep(20)' > "$WORK/cancel.out" 2>&1 &
cpid=$!
sleep 1
kill -INT $cpid
wait $cpid
expect "CancelRequest" "canceling statement due to user request" "$(cat "$WORK/cancel.out")"

# ---- a server that is not ready: 57P03, counted; ending sessions: 57P01 ----
psql "$(conn "$MAIN" disable)" -X -c 'select pg_sleep(20)' > "$WORK/kill.out" 2>&1 &
kpid=$!
sleep 1
reply=$(ctl "kill terminating connection because the server's customer-managed key is not accessible")
expect "terminate" "killed=1" "$reply"
wait $kpid
expect "57P01 ends the open session" "FATAL:  terminating connection because the server's customer-managed key is not accessible" "$(cat "$WORK/kill.out")"
ctl "down the server's customer-managed key is not accessible: https://kv1.vault.azure.net/keys/k1/0123" >/dev/null
out=$(psql "$(conn "$MAIN" disable)" -X -c 'select 1' 2>&1)
expect "57P03 refuses logins" "FATAL:  the server's customer-managed key is not accessible: https://kv1.vault.azure.net/keys/k1/0123" "$out"
out=$(psql "$(conn "$MAIN" disable)" -X -v VERBOSITY=verbose -c 'select 1' 2>&1)
expect "refusals are counted" "denied=2" "$(ctl denied)"
ctl up >/dev/null
out=$(sql "select 'back'")
expect "logins accepted again" "back" "$out"

echo "quit" >&3
wait "$SPID"
status=$?
SPID=
[ $status -eq 0 ] && ok "server shut down cleanly" || bad "server exit status $status" "$(tail -5 "$WORK/err")"
if [ $fails -ne 0 ]; then
    echo "$fails check(s) failed"
    tail -20 "$WORK/err"
    exit 1
fi
echo "all checks passed"
