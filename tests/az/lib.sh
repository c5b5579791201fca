# lib.sh: what the az tests share. Sourced by each tests/az/*.sh, which run under
# tests/clients/with-serve (a fresh `cmksim serve`, its env exported: HTTPS_PROXY,
# REQUESTS_CA_BUNDLE, AZURE_*, CMKSIM_BIN, CMKSIM_DATA).
#
# az keeps its default cloud (management.azure.com, login.microsoftonline.com); only the proxy
# and the CA bundle point it at cmksim. Its state goes to a temporary AZURE_CONFIG_DIR.
set -uo pipefail

AZ_TMP=$(mktemp -d /tmp/cmksim-az.XXXXXX)
export AZURE_CONFIG_DIR="$AZ_TMP/az" AZURE_CORE_COLLECT_TELEMETRY=false
export AZURE_CORE_ONLY_SHOW_ERRORS=true AZURE_CORE_NO_COLOR=true AZURE_CORE_SURVEY_MESSAGE=false
CMKSIM="$CMKSIM_BIN"
failures=0
checks=0
trap 'rm -rf "$AZ_TMP"' EXIT

note() { printf '\n## %s\n' "$*"; }

# ok CMD...: run, expect exit 0; stdout saved in $OUT, stderr in $ERR.
ok() {
  checks=$((checks + 1))
  OUT=$("$@" 2>"$AZ_TMP/err"); local rc=$?
  ERR=$(cat "$AZ_TMP/err")
  if [ $rc -ne 0 ]; then
    failures=$((failures + 1))
    printf 'FAIL (exit %d): %s\n%s\n' "$rc" "$*" "$ERR" | head -40
    return 1
  fi
  printf 'ok: %s\n' "$*" | cut -c1-160
  return 0
}

# fails WANT_EXIT PATTERN CMD...: expect exit code WANT_EXIT and PATTERN (grep -E) in stderr.
fails() {
  local want=$1 pat=$2; shift 2
  checks=$((checks + 1))
  OUT=$("$@" 2>"$AZ_TMP/err"); local rc=$?
  ERR=$(cat "$AZ_TMP/err")
  if [ $rc -ne "$want" ] || ! grep -Eq -- "$pat" <<<"$ERR"; then
    failures=$((failures + 1))
    printf 'FAIL (exit %d, want %d and /%s/): %s\n%s\n' "$rc" "$want" "$pat" "$*" "$ERR" | head -40
    return 1
  fi
  printf 'ok (fails as expected, exit %d): %s\n' "$rc" "$*" | cut -c1-160
  return 0
}

# eq WANT GOT WHAT
eq() {
  checks=$((checks + 1))
  if [ "$1" != "$2" ]; then
    failures=$((failures + 1))
    printf 'FAIL: %s: want "%s", got "%s"\n' "$3" "$1" "$2"
    return 1
  fi
  printf 'ok: %s = %s\n' "$3" "$2" | cut -c1-160
}

# contains PATTERN TEXT WHAT
contains() {
  checks=$((checks + 1))
  if ! grep -Eq -- "$1" <<<"$2"; then
    failures=$((failures + 1))
    printf 'FAIL: %s: /%s/ not in:\n%s\n' "$3" "$1" "$(head -c 2000 <<<"$2")"
    return 1
  fi
  printf 'ok: %s matches /%s/\n' "$3" "$1" | cut -c1-160
}

# poll MAX_SECONDS WANT CMD...: rerun CMD (output trimmed) until it prints WANT.
poll() {
  local max=$1 want=$2; shift 2
  local got=""
  checks=$((checks + 1))
  for _ in $(seq "$max"); do
    got=$("$@" 2>/dev/null | tr -d '\r\n')
    [ "$got" = "$want" ] && { printf 'ok: %s -> %s\n' "$*" "$want" | cut -c1-160; return 0; }
    sleep 1
  done
  failures=$((failures + 1))
  printf 'FAIL: %s: want "%s" within %ss, last "%s"\n' "$*" "$want" "$max" "$got"
  return 1
}

# ok_advancing CMD...: like ok, for a long-running operation: while CMD runs, the emulator's
# clock jumps a minute every two seconds (cmksim clock advance), so an operation that takes
# minutes of service time completes in seconds, whatever profile the resource has.
ok_advancing() {
  "$@" >"$AZ_TMP/lro.out" 2>"$AZ_TMP/lro.err" &
  local pid=$! rc
  while kill -0 $pid 2>/dev/null; do
    sleep 2
    kill -0 $pid 2>/dev/null && "$CMKSIM" clock advance 1m -o json >/dev/null 2>&1
  done
  wait $pid; rc=$?
  checks=$((checks + 1))
  OUT=$(cat "$AZ_TMP/lro.out"); ERR=$(cat "$AZ_TMP/lro.err")
  if [ $rc -ne 0 ]; then
    failures=$((failures + 1))
    printf 'FAIL (exit %d): %s\n%s\n' "$rc" "$*" "$ERR" | head -40
    return 1
  fi
  printf 'ok (clock advancing): %s\n' "$*" | cut -c1-160
}

az_login() {
  ok az login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" \
    --tenant "$AZURE_TENANT_ID" -o json
}

finish() {
  printf '\n%d checks, %d failed\n' "$checks" "$failures"
  [ "$failures" -eq 0 ]
}
