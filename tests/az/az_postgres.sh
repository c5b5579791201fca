#!/usr/bin/env bash
# az_postgres.sh: the PostgreSQL flexible server commands of az 2.45 on CMK servers: create
# with --key --identity, list, show, update with a new key and identity, identity assign/list,
# stop/start/restart, wait, restore (point in time), replica create/list, geo-restore, delete.
# The servers carry the tag cmksim-profile=instant so their operations complete at once.
# az 2.45 has no --backup-key/--backup-identity: the geo-redundant CMK server is created with
# az rest (the same PUT a newer az sends).
. "$(dirname "$0")/lib.sh"
PW='Str0ng!Passw0rd'

note "identities, vaults, keys"
az_login
ok az group create -n rg-pg -l eastus -o none
for id in id-a id-b; do
  ok az identity create -g rg-pg -n $id -o none
done
ok az identity create -g rg-pg -n id-geo -l westus -o none
IA=$(az identity show -g rg-pg -n id-a --query id -o tsv)
IB=$(az identity show -g rg-pg -n id-b --query id -o tsv)
IG=$(az identity show -g rg-pg -n id-geo --query id -o tsv)
ok az keyvault create -g rg-pg -n kv-pg-east -l eastus --enable-purge-protection true -o none
ok az keyvault create -g rg-pg -n kv-pg-west -l westus --enable-purge-protection true -o none
for id in id-a id-b; do
  ok az keyvault set-policy -n kv-pg-east --object-id "$(az identity show -g rg-pg -n $id --query principalId -o tsv)" \
    --key-permissions get list wrapKey unwrapKey -o none
done
ok az keyvault set-policy -n kv-pg-west --object-id "$(az identity show -g rg-pg -n id-geo --query principalId -o tsv)" \
  --key-permissions get list wrapKey unwrapKey -o none
KA=$("$CMKSIM" key create kv-pg-east ka -o json | jq -r .key.kid)
KB=$("$CMKSIM" key create kv-pg-east kb -o json | jq -r .key.kid)
KG=$("$CMKSIM" key create kv-pg-west kg -o json | jq -r .key.kid)

note "create, list, show"
ok az postgres flexible-server create -g rg-pg -n pg-ops -l eastus --key "$KA" --identity "$IA" \
  --admin-user pgadmin --admin-password "$PW" --public-access 0.0.0.0 --tags cmksim-profile=instant \
  --yes -o json
eq pg-ops.postgres.database.azure.com "$(jq -r .host <<<"$OUT")" "create: host"
ok az postgres flexible-server list -g rg-pg --query "[].name" -o tsv
eq pg-ops "$OUT" "list"
ok az postgres flexible-server show -g rg-pg -n pg-ops --query "[state, dataEncryption.type]" -o tsv
eq "Ready AzureKeyVault" "$(xargs <<<"$OUT")" "show"
ok az postgres flexible-server firewall-rule list -g rg-pg -n pg-ops --query "[].startIpAddress" -o tsv
eq 0.0.0.0 "$OUT" "firewall rule created on the way (allow Azure services)"
ok az postgres flexible-server db list -g rg-pg -s pg-ops --query "[].name" -o tsv
contains flexibleserverdb "$OUT" "database created on the way"

note "identities, new key"
ok az postgres flexible-server identity assign -g rg-pg -s pg-ops -n "$IB" -o none
ok az postgres flexible-server identity list -g rg-pg -s pg-ops -o json
contains "id-b" "$OUT" "identity list"
ok az postgres flexible-server update -g rg-pg -n pg-ops --key "$KB" --identity "$IB" -o json
eq "$KB|Ready" "$(jq -r '[(.dataEncryption.primaryKeyUri // .dataEncryption.primaryKeyURI), .state] | join("|")' <<<"$OUT")" "update: new key"

note "stop, start, restart, wait"
ok az postgres flexible-server stop -g rg-pg -n pg-ops
ok az postgres flexible-server show -g rg-pg -n pg-ops --query state -o tsv
eq Stopped "$OUT" "stopped"
fails 1 "." az postgres flexible-server stop -g rg-pg -n pg-ops
ok az postgres flexible-server start -g rg-pg -n pg-ops
ok az postgres flexible-server restart -g rg-pg -n pg-ops
ok az postgres flexible-server wait -g rg-pg -n pg-ops --custom "state=='Ready'" --interval 1 --timeout 60

note "restore and replica (R13: their own key and identity)"
NOW=$("$CMKSIM" clock show -o json | jq -r .time)
ok_advancing az postgres flexible-server restore -g rg-pg -n pg-restored --source-server pg-ops \
  --restore-time "$NOW" --key "$KA" --identity "$IA" -o json
eq "$KA|Ready" "$(jq -r '[(.dataEncryption.primaryKeyUri // .dataEncryption.primaryKeyURI), .state] | join("|")' <<<"$OUT")" "restored server"
ok_advancing az postgres flexible-server replica create -g rg-pg --replica-name pg-replica \
  --source-server pg-ops --key "$KA" --identity "$IA" -o json
eq "Replica" "$(jq -r .replicationRole <<<"$OUT" | sed 's/AsyncReplica/Replica/')" "replica role"
ok az postgres flexible-server replica list -g rg-pg -n pg-ops --query "[].name" -o tsv
eq pg-replica "$OUT" "replica list"

note "geo-redundant backup with its own key (R15) and geo-restore"
SUB=$AZURE_SUBSCRIPTION_ID
cat >"$AZ_TMP/geo.json" <<JSON
{"location":"eastus","tags":{"cmksim-profile":"instant"},
 "sku":{"name":"Standard_D2s_v3","tier":"GeneralPurpose"},
 "identity":{"type":"UserAssigned","userAssignedIdentities":{"$IA":{},"$IG":{}}},
 "properties":{"version":"16","administratorLogin":"pgadmin","administratorLoginPassword":"$PW",
  "storage":{"storageSizeGB":32},"backup":{"backupRetentionDays":7,"geoRedundantBackup":"Enabled"},
  "dataEncryption":{"type":"AzureKeyVault","primaryKeyURI":"$KA","primaryUserAssignedIdentityId":"$IA",
   "geoBackupKeyURI":"$KG","geoBackupUserAssignedIdentityId":"$IG"}}}
JSON
ok az rest --method put --body @"$AZ_TMP/geo.json" \
  --url "https://management.azure.com/subscriptions/$SUB/resourceGroups/rg-pg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-geo?api-version=2022-12-01"
ok az postgres flexible-server wait -g rg-pg -n pg-geo --custom "state=='Ready'" --interval 1 --timeout 60
ok az postgres flexible-server show -g rg-pg -n pg-geo --query dataEncryption.geoBackupEncryptionKeyStatus -o tsv
eq Valid "$OUT" "geo backup key status"
ok_advancing az postgres flexible-server geo-restore -g rg-pg -n pg-georestored --source-server pg-geo -l westus -o json
eq "westus|$KG" "$(jq -r '[(.location | ascii_downcase | gsub(" "; "")), (.dataEncryption.primaryKeyUri // .dataEncryption.primaryKeyURI)] | join("|")' <<<"$OUT")" \
  "geo-restored server in the backup region with the geo key"

note "delete"
ok_advancing az postgres flexible-server delete -g rg-pg -n pg-replica --yes
ok az postgres flexible-server list -g rg-pg --query "length([?name=='pg-replica'])" -o tsv
eq 0 "$OUT" "deleted"
fails 3 "ResourceNotFound|not found" az postgres flexible-server show -g rg-pg -n pg-replica -o json

finish
