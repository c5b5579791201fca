#!/usr/bin/env bash
# cli_test.sh: every cmksim client command against a fresh `cmksim serve` (run under
# tests/clients/with-serve): help texts, table and JSON output, the service's errors with a
# non-zero exit, usage errors with exit 64. Vaults and servers are made with plain ARM calls
# (curl through the proxy with a token from the login service), as any client would.
set -uo pipefail
C="$CMKSIM_BIN"
T=$(mktemp -d /tmp/cmksim-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0 checks=0

# run WANT_EXIT CMD...: stdout in $OUT, stderr in $ERR
run() {
  local want=$1; shift
  checks=$((checks + 1))
  OUT=$("$@" 2>"$T/err"); local rc=$?
  ERR=$(cat "$T/err")
  if [ "$rc" -ne "$want" ]; then
    failures=$((failures + 1))
    printf 'FAIL (exit %d, want %d): %s\n%s\n%s\n' "$rc" "$want" "$*" "$OUT" "$ERR" | head -30
    return 1
  fi
  printf 'ok (exit %d): %s\n' "$rc" "$*" | cut -c1-150
}
has() { # has PATTERN TEXT WHAT
  checks=$((checks + 1))
  grep -Eq -- "$1" <<<"$2" && { printf 'ok: %s\n' "$3"; return 0; }
  failures=$((failures + 1)); printf 'FAIL: %s: /%s/ not in:\n%s\n' "$3" "$1" "$(head -c 1500 <<<"$2")"
}
eq() {
  checks=$((checks + 1))
  [ "$1" = "$2" ] && { printf 'ok: %s = %s\n' "$3" "$2" | cut -c1-150; return 0; }
  failures=$((failures + 1)); printf 'FAIL: %s: want "%s", got "%s"\n' "$3" "$1" "$2"
}

# ARM calls with curl through the proxy (HTTPS_PROXY and CURL_CA_BUNDLE come from with-serve).
TOKEN=$(curl -sf -X POST "https://login.microsoftonline.com/$AZURE_TENANT_ID/oauth2/v2.0/token" \
  --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$AZURE_CLIENT_ID" \
  --data-urlencode "client_secret=$AZURE_CLIENT_SECRET" \
  --data-urlencode "scope=https://management.azure.com/.default" | jq -r .access_token)
SUB=/subscriptions/$AZURE_SUBSCRIPTION_ID
arm() { # arm METHOD PATH [BODY]
  curl -s -X "$1" "https://management.azure.com$2" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' ${3:+--data "$3"}
}
ADMIN_OID=ad000000-c0de-4000-8000-000000000002
vault() { # vault NAME PURGE_PROTECTION
  arm PUT "$SUB/resourceGroups/rg-cli/providers/Microsoft.KeyVault/vaults/$1?api-version=2023-07-01" \
    "{\"location\":\"eastus\",\"properties\":{\"tenantId\":\"$AZURE_TENANT_ID\",\"sku\":{\"family\":\"A\",\"name\":\"standard\"},\"enablePurgeProtection\":$2,\"softDeleteRetentionInDays\":90,\"accessPolicies\":[{\"tenantId\":\"$AZURE_TENANT_ID\",\"objectId\":\"$ADMIN_OID\",\"permissions\":{\"keys\":[\"all\"]}}]}}" >/dev/null
}
arm PUT "$SUB/resourcegroups/rg-cli?api-version=2021-04-01" '{"location":"eastus"}' >/dev/null
vault kv-cli true
vault kv-cli-np false

echo "## top level"
run 0 "$C" --help
has "key .*Key Vault keys" "$OUT" "commands listed"
has "examples:" "$OUT" "examples in the top-level help"
run 0 "$C" version
run 64 "$C" frobnicate
has "unknown command" "$ERR" "unknown command"
for cmd in key hsm clock fault audit health psql env serve; do
  run 0 "$C" $cmd --help
  has "example" "$OUT" "$cmd --help has examples"
done

echo "## env"
run 0 "$C" env
has "CONNECT proxy" "$OUT" "env text"
run 0 "$C" env --export
has "^export REQUESTS_CA_BUNDLE=" "$OUT" "env --export"
run 0 "$C" env -o json
eq "$(jq -r .ca <<<"$OUT")" "$REQUESTS_CA_BUNDLE" "env -o json ca"
run 1 "$C" env --data "$T/nowhere"
has "no running cmksim" "$ERR" "env without a serve"
run 1 "$C" clock show --data "$T/nowhere"
has "no running cmksim found" "$ERR" "client command without a serve"

echo "## clock"
run 0 "$C" clock show -o json
eq scaled "$(jq -r .mode <<<"$OUT")" "clock mode"
T0=$(jq -r .timeMs <<<"$OUT")
run 0 "$C" clock advance 30m -o json
T1=$(jq -r .timeMs <<<"$OUT")
has "^1$" "$(( (T1 - T0) >= 1800000 && (T1 - T0) < 1860000 ))" "advance 30m moved the clock 30 minutes"
run 0 "$C" clock speed 60 -o json
eq 60 "$(jq -r '.speed | floor' <<<"$OUT")" "speed 60"
run 0 "$C" clock speed 1 -o table
has "^Speed +1$" "$OUT" "table output"
run 1 "$C" clock advance soon
has "InvalidDuration: .*\(HTTP 400\)" "$ERR" "bad duration: the service's code and message"
run 1 "$C" clock speed -5
has "InvalidSpeed" "$ERR" "negative speed"
run 64 "$C" clock rewind 1h
run 64 "$C" clock advance
run 0 bash -c "'$C' clock show -o json >/dev/null; test -s '$CMKSIM_DATA/clock.json'"
eq 401 "$(curl -s -o /dev/null -w '%{http_code}' https://management.azure.com/_cmksim/clock)" \
  "management route without a token"

echo "## key"
run 0 "$C" key create kv-cli k1 --kty RSA --size 2048 --ops wrapKey,unwrapKey --tags env=test -o json
KID=$(jq -r .key.kid <<<"$OUT")
has '^https://kv-cli.vault.azure.net/keys/k1/[0-9a-f]{32}$' "$KID" "key create: kid"
eq "wrapKey,unwrapKey" "$(jq -r '.key.key_ops | join(",")' <<<"$OUT")" "key ops"
run 0 "$C" key show kv-cli k1 -o table
has "^Size +2048$" "$OUT" "key show table: size"
run 0 "$C" key show https://kv-cli.vault.azure.net/ k1 -o json
eq "$KID" "$(jq -r .key.kid <<<"$OUT")" "vault given as URL"
run 0 "$C" key show kv-cli.vault.localhost k1 -o json
eq "https://kv-cli.vault.localhost/keys/k1/${KID##*/}" "$(jq -r .key.kid <<<"$OUT")" \
  "vault given as local host name (the kid names the host used)"
run 0 "$C" key list kv-cli -o table
has "^Name +Enabled" "$OUT" "key list table header"
has "^k1 " "$OUT" "key list row"
run 0 "$C" key rotate kv-cli k1 -o json
KID2=$(jq -r .key.kid <<<"$OUT")
run 0 "$C" key versions kv-cli k1 -o json
eq 2 "$(jq length <<<"$OUT")" "two versions after rotate"
run 0 "$C" key set kv-cli k1 --enabled false --expires 2030-01-01 -o json
eq "false|1893456000" "$(jq -r '[.attributes.enabled, .attributes.exp] | join("|")' <<<"$OUT")" "key set"
run 0 "$C" key show kv-cli k1 --version "${KID##*/}" -o json
eq true "$(jq -r .attributes.enabled <<<"$OUT")" "the older version is untouched"
run 1 "$C" key wrap kv-cli k1 --value AAAA
has "Forbidden|disabled|KeyDisabled" "$ERR" "wrap with a disabled key"
run 0 "$C" key set kv-cli k1 --enabled true --expires none -o json
DEK=$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=')
run 0 "$C" key wrap kv-cli k1 --value "$DEK" -o json
WRAPPED=$(jq -r .value <<<"$OUT")
run 0 "$C" key unwrap kv-cli k1 --value "$WRAPPED" --alg RSA-OAEP-256 -o json
eq "$DEK" "$(jq -r .value <<<"$OUT")" "wrap/unwrap round trip"
run 1 "$C" key show kv-cli missing
has "KeyNotFound: .*\(HTTP 404\)" "$ERR" "missing key: code, message, status"
run 1 "$C" key show kv-nope k1
has "\(HTTP 404\)" "$ERR" "unknown vault"
run 64 "$C" key show kv-cli
run 64 "$C" key explode kv-cli k1
run 64 "$C" key create kv-cli k2 --size
run 64 "$C" key set kv-cli k1
run 64 "$C" key set kv-cli k1 --enabled maybe
run 64 "$C" key set kv-cli k1 --expires tomorrow
run 1 "$C" key create kv-cli k-bad --size 1000
has "\(HTTP 400\)" "$ERR" "bad key size: the service says why"

echo "## backup, delete, recover, purge, restore"
run 1 "$C" key backup kv-cli-np k1 --file "$T/none.bak"
has "KeyNotFound" "$ERR" "backup of a key the vault does not have"
run 0 "$C" key create kv-cli-np kb -o json
run 0 "$C" key backup kv-cli-np kb --file "$T/kb.bak" -o json
has '^[1-9][0-9]+$' "$(jq -r .bytes <<<"$OUT")" "backup bytes"
eq 600 "$(stat -c %a "$T/kb.bak")" "backup file mode"
run 0 "$C" key delete kv-cli-np kb -o json
has "deletedkeys/kb" "$(jq -r .recoveryId <<<"$OUT")" "delete: recovery id"
run 0 "$C" key list kv-cli-np --deleted -o table
has "^kb +20" "$OUT" "deleted list with dates"
run 0 "$C" key recover kv-cli-np kb -o json
run 0 "$C" key show kv-cli-np kb -o json
run 0 "$C" key delete kv-cli-np kb -o json
run 0 "$C" key purge kv-cli-np kb -o json
eq true "$(jq -r .purged <<<"$OUT")" "purged"
run 1 "$C" key show kv-cli-np kb
run 0 "$C" key restore kv-cli-np --file "$T/kb.bak" -o json
has "/keys/kb/" "$(jq -r .key.kid <<<"$OUT")" "restored from backup"
run 0 "$C" key delete kv-cli k1 -o json
run 1 "$C" key purge kv-cli k1
has "purge protection" "$ERR" "purge refused on a purge-protected vault"
run 0 "$C" key recover kv-cli k1 -o json
run 1 "$C" key restore kv-cli --file "$T/missing.bak"
has "cannot read" "$ERR" "restore from a missing file"

echo "## import"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/k.pem" -out "$T/c.pem" -days 2 -subj /CN=cli \
  2>/dev/null
openssl pkcs12 -export -inkey "$T/k.pem" -in "$T/c.pem" -out "$T/k.pfx" -passout pass:secret
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ec.pem"
run 0 "$C" key import kv-cli from-pfx --file "$T/k.pfx" --password secret -o json
eq "RSA" "$(jq -r .key.kty <<<"$OUT")" "import .pfx"
N_PFX=$(jq -r .key.n <<<"$OUT")
run 0 "$C" key import kv-cli from-pem --file "$T/k.pem" -o json
eq "$N_PFX" "$(jq -r .key.n <<<"$OUT")" "the same public key from .pem and .pfx"
run 0 "$C" key import kv-cli from-ec --file "$T/ec.pem" -o json
eq "EC P-256" "$(jq -r '.key.kty + " " + .key.crv' <<<"$OUT")" "import EC .pem"
run 0 "$C" key create kv-cli-np exported -o json
node -e '
  const { generateKeyPairSync } = require("crypto");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  process.stdout.write(JSON.stringify({ key: privateKey.export({ format: "jwk" }) }));
' >"$T/k.json"
run 0 "$C" key import kv-cli from-jwk --file "$T/k.json" --disabled -o json
eq "RSA false" "$(jq -r '.key.kty + " " + (.attributes.enabled|tostring)' <<<"$OUT")" "import JWK"
run 1 "$C" key import kv-cli bad --file "$T/k.pfx" --password wrong
has "wrong password" "$ERR" "pfx with a wrong password"
echo '{"kty":"RSA","n":"AQAB","e":"AQAB"}' >"$T/pub.json"
run 1 "$C" key import kv-cli pub --file "$T/pub.json"
has "\(HTTP 400\)" "$ERR" "a public JWK is refused by the vault"
run 64 "$C" key import kv-cli nofile

echo "## audit"
run 0 "$C" audit show kv-cli -o json
has '"operationName": "KeyCreate"' "$OUT" "audit has KeyCreate"
has '"resultSignature": "NotFound"' "$OUT" "audit has the refused get"
run 0 "$C" audit show kv-cli --top 3 -o table
eq 5 "$(wc -l <<<"$OUT")" "audit --top 3 (header, rule, 3 rows)"
run 1 "$C" audit show kv-missing
has "VaultNotFound" "$ERR" "audit of an unknown vault"
run 64 "$C" audit list kv-cli

echo "## fault"
run 0 "$C" fault vault-outage kv-cli --for 20m -o json
eq "kv-cli" "$(jq -r .vault <<<"$OUT")" "fault started"
run 0 "$C" fault list -o table
has "^vault-outage +kv-cli +20" "$OUT" "fault list"
run 0 "$C" fault clear kv-cli -o json
run 1 "$C" fault clear kv-cli
has "FaultNotFound" "$ERR" "clearing twice"
run 1 "$C" fault vault-outage kv-cli --for forever
has "InvalidDuration" "$ERR" "bad --for"
run 64 "$C" fault vault-outage kv-cli
run 64 "$C" fault meteor kv-cli

echo "## health"
ID_PATH="$SUB/resourceGroups/rg-cli/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-cli"
PID=$(arm PUT "$ID_PATH?api-version=2023-01-31" '{"location":"eastus"}' | jq -r .properties.principalId)
arm PUT "$SUB/resourceGroups/rg-cli/providers/Microsoft.KeyVault/vaults/kv-cli/accessPolicies/add?api-version=2023-07-01" \
  "{\"properties\":{\"accessPolicies\":[{\"tenantId\":\"$AZURE_TENANT_ID\",\"objectId\":\"$PID\",\"permissions\":{\"keys\":[\"get\",\"list\",\"wrapKey\",\"unwrapKey\"]}}]}}" >/dev/null
KEY=$("$C" key create kv-cli pgkey -o json | jq -r .key.kid)
arm PUT "$SUB/resourceGroups/rg-cli/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-cli?api-version=2022-12-01" \
  "{\"location\":\"eastus\",\"tags\":{\"cmksim-profile\":\"instant\"},\"sku\":{\"name\":\"Standard_D2s_v3\",\"tier\":\"GeneralPurpose\"},\"identity\":{\"type\":\"UserAssigned\",\"userAssignedIdentities\":{\"$ID_PATH\":{}}},\"properties\":{\"version\":\"16\",\"administratorLogin\":\"pgadmin\",\"administratorLoginPassword\":\"Str0ng!Passw0rd\",\"storage\":{\"storageSizeGB\":32},\"dataEncryption\":{\"type\":\"AzureKeyVault\",\"primaryKeyURI\":\"$KEY\",\"primaryUserAssignedIdentityId\":\"$ID_PATH\"}}}" >/dev/null
run 0 "$C" clock advance 1m -o json
run 0 "$C" health pg-cli -o json
eq "Ready|Available|Valid" "$(jq -r '[.state, .availabilityState, .primaryEncryptionKeyStatus] | join("|")' <<<"$OUT")" "health"
run 0 "$C" health pg-cli -o table
has "^State +Ready$" "$OUT" "health table"
run 0 "$C" key set kv-cli pgkey --enabled false -o json
run 0 "$C" clock advance 2m -o json
run 0 "$C" health pg-cli -o json
eq "Invalid" "$(jq -r .primaryEncryptionKeyStatus <<<"$OUT")" "health after the key was disabled"
run 1 "$C" health pg-missing
has "ResourceNotFound" "$ERR" "health of an unknown server"
run 64 "$C" health

echo "## psql"
if jq -e .postgres "$CMKSIM_DATA/serve.json" >/dev/null; then
  run 0 "$C" psql pg-cli --print
  has "host=pg-cli.postgres.localhost hostaddr=127.0.0.1 port=[0-9]+ dbname=postgres user=pgadmin sslmode=verify-full sslrootcert=$REQUESTS_CA_BUNDLE" "$OUT" "psql connection string"
  # the key is disabled (above): the server refuses logins, naming the cause
  run 2 "$C" psql pg-cli --password 'Str0ng!Passw0rd' -- -c 'select 1'
  has "customer-managed key|not accessible" "$ERR" "psql refused while the key is disabled"
  run 0 "$C" key set kv-cli pgkey --enabled true -o json
  run 0 "$C" clock advance 2m -o json
  run 0 "$C" psql pg-cli --password 'Str0ng!Passw0rd' -- -At -c 'select 41+1'
  eq 42 "$OUT" "psql runs a query over verified TLS"
else
  run 1 "$C" psql pg-cli --print
  has "no PostgreSQL endpoint" "$ERR" "psql without a data plane"
fi
run 1 "$C" psql pg-missing --print
run 64 "$C" psql

echo "## hsm"
arm PUT "$SUB/resourceGroups/rg-cli/providers/Microsoft.KeyVault/managedHSMs/hsm-cli?api-version=2023-07-01" \
  "{\"location\":\"eastus\",\"sku\":{\"family\":\"B\",\"name\":\"Standard_B1\"},\"properties\":{\"tenantId\":\"$AZURE_TENANT_ID\",\"initialAdminObjectIds\":[\"$ADMIN_OID\"],\"enablePurgeProtection\":true}}" >/dev/null
run 0 "$C" clock advance 10s -o json
run 1 "$C" key create hsm-cli k --hsm
has "\(HTTP [0-9]+\)" "$ERR" "an HSM refuses keys before activation"
run 0 "$C" hsm activate hsm-cli --out-dir "$T/sd" -o json
eq Activated "$(jq -r .status <<<"$OUT")" "hsm activate"
eq "600 600" "$(stat -c %a "$T/sd/sd-key-1.pem" "$T/sd/security-domain.json" | xargs)" \
  "security domain files are private"
run 0 "$C" clock advance 10s -o json
run 1 "$C" key create hsm-cli k --hsm
has "managedHsm/keys/create" "$ERR" "the administrator role cannot create keys (local RBAC)"
run 0 "$C" hsm role-assignment create hsm-cli --role "Managed HSM Crypto User" --assignee "$ADMIN_OID" \
  --scope /keys --name 0c0ffee0-0000-4000-8000-000000000001 -o json
eq "/keys" "$(jq -r .properties.scope <<<"$OUT")" "role assignment scope"
run 0 "$C" key create hsm-cli.managedhsm.azure.net k -o json
eq RSA-HSM "$(jq -r .key.kty <<<"$OUT")" "HSM key (default kty RSA-HSM)"
run 0 "$C" hsm role-assignment list hsm-cli --scope /keys -o table
has "0c0ffee0-0000-4000-8000-000000000001" "$OUT" "role assignment list"
run 0 "$C" audit show hsm-cli.managedhsm.azure.net -o json
has '"operationName": "KeyCreate"' "$OUT" "HSM audit log"
run 0 "$C" hsm role-assignment delete hsm-cli --scope /keys --name 0c0ffee0-0000-4000-8000-000000000001 -o json
run 1 "$C" key create hsm-cli k2 --hsm
has "Forbidden" "$ERR" "no key creation once the assignment is gone"
run 64 "$C" hsm
run 64 "$C" hsm explode hsm1
run 64 "$C" hsm role-assignment create hsm1 --role "Managed HSM Crypto User"
run 1 "$C" hsm activate kv-cli.vault.azure.net
has "not a managed HSM" "$ERR" "hsm activate on a vault host"
run 1 "$C" hsm role-assignment create hsm1 --role "No Such Role" --assignee "$PID"
has "RoleDefinitionNotFound" "$ERR" "unknown HSM role"

echo "## credentials"
run 1 env AZURE_CLIENT_SECRET=wrong "$C" key list kv-cli
has "login failed .*invalid_client" "$ERR" "wrong secret: the login service's error"

printf '\n%d checks, %d failed\n' "$checks" "$failures"
[ "$failures" -eq 0 ]
