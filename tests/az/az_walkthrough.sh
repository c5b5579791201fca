#!/usr/bin/env bash
# az_walkthrough.sh: the customer-managed-key walk-through with the real az, the way the
# documentation tells it: a user-assigned identity, a vault with purge protection and an access
# policy for the identity, a key (cmksim's CLI: az 2.45 cannot run `az keyvault key`), a
# PostgreSQL flexible server created with --key --identity and some data in it (psql); then
# revoke the identity's access (az keyvault delete-policy) and let the emulator's clock run until
# the key monitor turns the server Inaccessible and it refuses logins; grant it again
# (az keyvault set-policy) and see the server Ready with its data. The clock is cmksim serve's
# own scaled clock, moved with `cmksim clock advance`.
. "$(dirname "$0")/lib.sh"
PW='Str0ng!Passw0rd'

note "login, group, identity"
az_login
ok az group create -n rg-cmk -l eastus -o none
ok az identity create -g rg-cmk -n id-pg -o json
PID=$(jq -r .principalId <<<"$OUT")
IID=$(jq -r .id <<<"$OUT")

note "vault with purge protection, access policy for the identity (R4, R6)"
ok az keyvault create -g rg-cmk -n kv-cmk -l eastus --enable-purge-protection true \
  --retention-days 90 -o none
ok az keyvault set-policy -n kv-cmk --object-id "$PID" \
  --key-permissions get list wrapKey unwrapKey -o none

note "key (cmksim CLI)"
ok "$CMKSIM" key create kv-cmk cmk --kty RSA --size 2048 -o json
KID=$(jq -r .key.kid <<<"$OUT")
contains '^https://kv-cmk.vault.azure.net/keys/cmk/[0-9a-f]{32}$' "$KID" "key id"
ok "$CMKSIM" key create kv-cmk big --kty RSA --size 3072 -o json
BIG=$(jq -r .key.kid <<<"$OUT")

note "create refuses a key the rules refuse (R7: RSA 2048)"
fails 1 "2048" az postgres flexible-server create -g rg-cmk -n pg-big -l eastus \
  --key "$BIG" --identity "$IID" --admin-user pgadmin --admin-password "$PW" \
  --public-access None --yes -o json

note "create the CMK server (the clock jumps over the 4 minutes it takes)"
az postgres flexible-server create -g rg-cmk -n pg-cmk -l eastus --key "$KID" \
  --identity "$IID" --admin-user pgadmin --admin-password "$PW" \
  --public-access 127.0.0.1 --version 16 --yes -o json >"$AZ_TMP/create.json" \
  2>"$AZ_TMP/create.err" &
create=$!
for _ in $(seq 240); do
  "$CMKSIM" health pg-cmk -o json >"$AZ_TMP/health.json" 2>"$AZ_TMP/health.err" && break
  kill -0 $create 2>/dev/null || break
  sleep 0.25
done
eq Provisioning "$(jq -r .state "$AZ_TMP/health.json")" "server state while az waits"
ok "$CMKSIM" clock advance 5m -o json
wait $create
rc=$?
checks=$((checks + 1))
if [ $rc -ne 0 ]; then failures=$((failures + 1)); echo "FAIL: create exited $rc"; cat "$AZ_TMP/create.err"; fi
eq "pg-cmk.postgres.database.azure.com" "$(jq -r .host "$AZ_TMP/create.json")" "create: host"
ok az postgres flexible-server show -g rg-cmk -n pg-cmk -o json
eq "Ready|AzureKeyVault|Valid|$KID" \
  "$(jq -r '[.state, .dataEncryption.type, .dataEncryption.primaryEncryptionKeyStatus, (.dataEncryption.primaryKeyUri // .dataEncryption.primaryKeyURI)] | join("|")' <<<"$OUT")" \
  "server state | encryption | key status | key"
ok "$CMKSIM" health pg-cmk -o json
eq Available "$(jq -r .availabilityState <<<"$OUT")" "resource health"
ok az postgres flexible-server show-connection-string -s pg-cmk -u pgadmin --query connectionStrings.psql_cmd -o tsv
contains "pg-cmk.postgres.database.azure.com" "$OUT" "connection string"
ok "$CMKSIM" psql pg-cmk --password "$PW" -- -At \
  -c "create table notes(id int primary key, body text)" \
  -c "insert into notes values (1, 'encrypted at rest')" -c "select body from notes"
contains "encrypted at rest" "$OUT" "psql writes and reads data (TLS verified against the CA)"

note "revoke the identity's access: Inaccessible within 10 minutes (R9, R10)"
ok az keyvault delete-policy -n kv-cmk --object-id "$PID" -o none
ok "$CMKSIM" clock advance 15m -o json
ok az postgres flexible-server wait -g rg-cmk -n pg-cmk --custom "state=='Inaccessible'" \
  --interval 1 --timeout 60
ok az postgres flexible-server show -g rg-cmk -n pg-cmk \
  --query "[state, dataEncryption.primaryEncryptionKeyStatus]" -o tsv
eq "Inaccessible Invalid" "$(tr '\n\t' '  ' <<<"$OUT" | xargs)" "state and key status after revocation"
fails 2 "customer-managed key|not accessible" \
  "$CMKSIM" psql pg-cmk --password "$PW" -- -c "select body from notes"
ok "$CMKSIM" health pg-cmk -o json
eq Unavailable "$(jq -r .availabilityState <<<"$OUT")" "resource health after a denied connection"
contains "not permitted|permission" "$(jq -r .summary <<<"$OUT")" "health names the cause"
# az's default window ends at its own (wall) now; the emulator's clock has jumped ahead of it.
NOW=$("$CMKSIM" clock show -o json | jq -r .time)
ok az monitor activity-log list -g rg-cmk --max-events 100 --start-time 2026-01-01T00:00:00Z \
  --end-time "$NOW" --query "[].operationName.value" -o tsv
contains "encryptionKeyAccessFailed|encryptionKeyInaccessible" "$OUT" "activity log records the key access failure"
ok "$CMKSIM" audit show kv-cmk -o json
contains '"resultSignature": "Forbidden"' "$OUT" "vault audit log shows the refused calls"

note "grant it again: Ready (R11)"
ok az keyvault set-policy -n kv-cmk --object-id "$PID" \
  --key-permissions get list wrapKey unwrapKey -o none
ok "$CMKSIM" clock advance 20m -o json
ok az postgres flexible-server wait -g rg-cmk -n pg-cmk --custom "state=='Ready'" \
  --interval 1 --timeout 60
ok az postgres flexible-server show -g rg-cmk -n pg-cmk \
  --query "[state, dataEncryption.primaryEncryptionKeyStatus]" -o tsv
eq "Ready Valid" "$(tr '\n\t' '  ' <<<"$OUT" | xargs)" "state and key status after recovery"
ok "$CMKSIM" health pg-cmk -o json
eq Available "$(jq -r .availabilityState <<<"$OUT")" "resource health after recovery"
ok "$CMKSIM" psql pg-cmk --password "$PW" -- -At -c "select body from notes"
eq "encrypted at rest" "$OUT" "the data is back"

finish
