#!/usr/bin/env bash
# az_keyvault.sh: Debian's az 2.45 against cmksim through the CONNECT proxy: login, account,
# resource groups, resources, managed identities, key vaults (create with purge protection,
# retention, RBAC, network settings; show, list, update, delete, recover, purge, list-deleted),
# access policies, network rules, role assignments on an RBAC vault (az rest: az 2.45's own
# `az role assignment` is broken by a Debian packaging gap) and the activity log. Keys come
# from cmksim's own CLI (az 2.45 cannot run `az keyvault key`).
. "$(dirname "$0")/lib.sh"
SUB=$AZURE_SUBSCRIPTION_ID

note "login and account"
az_login
contains '"id": "'"$SUB"'"' "$OUT" "az login lists the default subscription"
ok az account show -o json
eq "$AZURE_TENANT_ID" "$(jq -r .tenantId <<<"$OUT")" "account tenant"
ok az account list --query "[].id" -o tsv
eq "$SUB" "$OUT" "account list"

note "resource groups"
ok az group create -n rg-az -l eastus -o json
eq "Succeeded" "$(jq -r .properties.provisioningState <<<"$OUT")" "group provisioningState"
ok az group show -n rg-az --query location -o tsv
eq eastus "$OUT" "group location"
fails 3 "ResourceGroupNotFound" az group show -n rg-missing -o json

note "managed identities"
ok az identity create -g rg-az -n id-app -o json
PID=$(jq -r .principalId <<<"$OUT")
IID=$(jq -r .id <<<"$OUT")
contains '^[0-9a-f-]{36}$' "$PID" "identity principalId"
ok az identity show -g rg-az -n id-app --query clientId -o tsv
contains '^[0-9a-f-]{36}$' "$OUT" "identity clientId"
ok az identity list -g rg-az --query "[].name" -o tsv
eq id-app "$OUT" "identity list"
ok az identity create -g rg-az -n id-temp -o none
ok az identity delete -g rg-az -n id-temp
fails 3 "ResourceNotFound" az identity show -g rg-az -n id-temp -o json

note "key vaults"
ok az keyvault create -g rg-az -n kv-az-main -l eastus --enable-purge-protection true \
  --retention-days 90 -o json
eq "true|90|true" "$(jq -r '[.properties.enablePurgeProtection, .properties.softDeleteRetentionInDays, .properties.enableSoftDelete] | join("|")' <<<"$OUT")" \
  "vault purge protection | retention | soft delete"
contains "ad000000-c0de-4000-8000-000000000002" "$OUT" "the creator's access policy (object id via Graph)"
eq "https://kv-az-main.vault.azure.net/" "$(jq -r .properties.vaultUri <<<"$OUT")" "vaultUri"
ok az keyvault create -g rg-az -n kv-az-rbac -l eastus --enable-rbac-authorization true \
  --enable-purge-protection true --public-network-access Enabled --default-action Deny \
  --bypass AzureServices -o json
eq "true|Deny|AzureServices" "$(jq -r '[.properties.enableRbacAuthorization, .properties.networkAcls.defaultAction, .properties.networkAcls.bypass] | join("|")' <<<"$OUT")" \
  "RBAC vault settings"
RBAC_ID=$(jq -r .id <<<"$OUT")
ok az keyvault show -n kv-az-main --query properties.sku.name -o tsv
eq standard "$OUT" "vault sku"
ok az keyvault list --query "[].name" -o tsv
contains "kv-az-main" "$OUT" "keyvault list (generic resources API)"
contains "kv-az-rbac" "$OUT" "keyvault list has both"
ok az keyvault update -n kv-az-main --default-action Deny --bypass AzureServices \
  --query properties.networkAcls.defaultAction -o tsv
eq Deny "$OUT" "keyvault update"
fails 1 "retention|Retention|cannot be changed|BadRequest" \
  az keyvault update -n kv-az-main --retention-days 30 -o json
fails 1 "not found" az keyvault show -n kv-az-missing -o json

note "network rules"
ok az keyvault network-rule add -n kv-az-main --ip-address 10.1.0.0/24 -o none
ok az keyvault network-rule list -n kv-az-main --query "ipRules[].value" -o tsv
eq 10.1.0.0/24 "$OUT" "network-rule list"
ok az keyvault network-rule remove -n kv-az-main --ip-address 10.1.0.0/24 -o none
ok az keyvault network-rule list -n kv-az-main --query "length(ipRules)" -o tsv
eq 0 "$OUT" "network-rule removed"
ok az keyvault update -n kv-az-main --default-action Allow -o none

note "access policies (the server identity's R4 permissions)"
ok az keyvault set-policy -n kv-az-main --object-id "$PID" \
  --key-permissions get list wrapKey unwrapKey -o json
eq "get list unwrapKey wrapKey" \
  "$(jq -r --arg p "$PID" '.properties.accessPolicies[] | select(.objectId==$p) | .permissions.keys | sort | join(" ")' <<<"$OUT")" \
  "set-policy key permissions"
ok az keyvault delete-policy -n kv-az-main --object-id "$PID" -o json
eq "" "$(jq -r --arg p "$PID" '.properties.accessPolicies[] | select(.objectId==$p) | .objectId' <<<"$OUT")" \
  "delete-policy removed the identity"
fails 1 "RBAC|rbac|access policies|BadRequest|not allowed" \
  az keyvault set-policy -n kv-az-rbac --object-id "$PID" --key-permissions get -o json

note "keys: cmksim's CLI (az 2.45's az keyvault key lacks azure.keyvault.v7_0)"
ok "$CMKSIM" key create kv-az-main cmk --kty RSA --size 2048 -o json
contains "https://kv-az-main.vault.azure.net/keys/cmk/" "$(jq -r .key.kid <<<"$OUT")" "key kid"

note "role assignments on the RBAC vault (az rest; az role assignment needs a newer azure-mgmt-authorization)"
RA=ca5e0000-0000-4000-8000-$(printf '%012d' $$)
ROLE=/subscriptions/$SUB/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6
ok az rest --method put \
  --url "https://management.azure.com$RBAC_ID/providers/Microsoft.Authorization/roleAssignments/$RA?api-version=2022-04-01" \
  --body "{\"properties\":{\"roleDefinitionId\":\"$ROLE\",\"principalId\":\"$PID\",\"principalType\":\"ServicePrincipal\"}}"
eq "$PID" "$(jq -r .properties.principalId <<<"$OUT")" "role assignment principal"
ok az rest --method get \
  --url "https://management.azure.com$RBAC_ID/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"
contains "$RA" "$OUT" "role assignment listed"
ok az rest --method delete \
  --url "https://management.azure.com$RBAC_ID/providers/Microsoft.Authorization/roleAssignments/$RA?api-version=2022-04-01"
ok az rest --method get \
  --url "https://management.azure.com$RBAC_ID/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"
eq "" "$(jq -r --arg r "$RA" '.value[] | select(.name==$r) | .name' <<<"$OUT")" "role assignment deleted"

note "soft-delete of vaults: delete, list-deleted, recover, purge"
ok az keyvault create -g rg-az -n kv-az-gone -l eastus -o none
ok az keyvault delete -n kv-az-gone
ok az keyvault list-deleted --query "[].name" -o tsv
eq kv-az-gone "$OUT" "list-deleted"
ok az keyvault show-deleted -n kv-az-gone --query properties.scheduledPurgeDate -o tsv
contains '^20[0-9]{2}-' "$OUT" "scheduled purge date"
ok az keyvault recover -n kv-az-gone -o none
ok az keyvault show -n kv-az-gone --query name -o tsv
eq kv-az-gone "$OUT" "recovered vault"
ok az keyvault delete -n kv-az-gone
ok az keyvault purge -n kv-az-gone
ok az keyvault list-deleted --resource-type vault --query "length(@)" -o tsv
eq 0 "$OUT" "purged"
ok az keyvault delete -n kv-az-main
fails 1 "purge protection|PurgeProtection|Forbidden|not allowed" az keyvault purge -n kv-az-main
ok az keyvault recover -n kv-az-main -o none

note "resources and the activity log"
ok az resource list -g rg-az --query "[].type" -o tsv
contains "Microsoft.KeyVault/vaults" "$OUT" "resource list: vaults"
contains "Microsoft.ManagedIdentity/userAssignedIdentities" "$OUT" "resource list: identities"
ok az monitor activity-log list -g rg-az --max-events 200 --query "[].operationName.value" -o tsv
contains "Microsoft.KeyVault/vaults/write" "$OUT" "activity log: vault writes"
contains "Microsoft.ManagedIdentity/userAssignedIdentities/delete" "$OUT" "activity log: identity delete"

note "resource group deletion"
ok az group delete -n rg-az --yes
fails 3 "ResourceGroupNotFound" az group show -n rg-az -o json

finish
