#!/usr/bin/env bash
# run_clients.sh SERVER SRCDIR: real clients against cmksim's HTTPS server and CONNECT proxy.
# Starts SERVER (tests/http/http_testserver) on port 0 with a fresh state directory, then:
# curl with --cacert/--resolve (SNI picks the right leaf, keep-alive, 431/413), openssl
# s_client (400, pipelining order), curl --proxy to https://management.azure.com (a real cloud
# name through the CONNECT tunnel), refused CONNECT and plain-HTTP proxying (403), openssl
# verify of every leaf against ca.pem, key file modes, then node's https (node_clients.js).
set -u
server=$1
src=$2
work=$(mktemp -d /tmp/cmk-http-test.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$server" --dir "$work" >"$work/ports" 2>"$work/server.log" &
pid=$!
# first start creates the CA and five RSA-2048 leaves: allow for a busy machine
for _ in $(seq 1200); do
  [ -s "$work/ports" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
read -r line <"$work/ports" || { echo "server did not start"; cat "$work/server.log"; exit 1; }
eval "$line" # tls_port=... proxy_port=... ca=...
echo "server: $line"

fails=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected [$2] got [$3]"; fails=$((fails + 1)); fi
}
contains() { # contains NAME NEEDLE HAYSTACK
  case "$3" in *"$2"*) echo "ok   $1" ;; *) echo "FAIL $1: [$2] not in [$3]"; fails=$((fails + 1)) ;; esac
}

mg="management.azure.com"
res=(--resolve "$mg:$tls_port:127.0.0.1" --resolve "x.vault.azure.net:$tls_port:127.0.0.1")
C=(curl -sS --max-time 10 --cacert "$ca" "${res[@]}")

# --- curl, direct, with SNI
out=$("${C[@]}" "https://$mg:$tls_port/health")
contains "curl https://$mg/health" '"status":"ok"' "$out"
out=$("${C[@]}" "https://x.vault.azure.net:$tls_port/keys/k1")
contains "curl SNI x.vault.azure.net -> vault leaf and vault route" '"vault":"x"' "$out"
out=$("${C[@]}" -v "https://$mg:$tls_port/health" "https://$mg:$tls_port/health" 2>&1 >/dev/null)
contains "curl keep-alive reuses the connection" "Re-using existing connection" "$out"
contains "curl negotiates TLS 1.3" "TLSv1.3" "$out"
out=$("${C[@]}" --tlsv1.2 --tls-max 1.2 -o /dev/null -w '%{http_code}' "https://$mg:$tls_port/health")
check "curl over TLS 1.2" 200 "$out"
out=$("${C[@]}" -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 17000 /dev/zero | tr '\0' a)" "https://$mg:$tls_port/health")
check "curl 17 KB header -> 431" 431 "$out"
head -c 2000000 /dev/zero >"$work/big"
out=$("${C[@]}" -o /dev/null -w '%{http_code}' --data-binary @"$work/big" "https://$mg:$tls_port/echo")
check "curl 2 MB body -> 413" 413 "$out"
out=$("${C[@]}" -H 'Transfer-Encoding: chunked' --data-binary 'chunked-body' "https://$mg:$tls_port/echo")
check "curl chunked body echoed" "chunked-body" "$out"

# --- served certificate per SNI name
for pair in "$mg:DNS:management.azure.com" "x.vault.azure.net:DNS:*.vault.azure.net" \
            "h.managedhsm.azure.net:DNS:*.managedhsm.azure.net" \
            "login.microsoftonline.com:DNS:login.microsoftonline.com" \
            "graph.microsoft.com:DNS:graph.microsoft.com" \
            "s.postgres.database.azure.com:DNS:*.postgres.database.azure.com"; do
  name=${pair%%:*}
  san=${pair#*:}
  out=$(openssl s_client -connect "127.0.0.1:$tls_port" -servername "$name" -CAfile "$ca" \
          -verify_hostname "$name" </dev/null 2>/dev/null)
  contains "s_client SNI $name verifies" "Verify return code: 0 (ok)" "$out"
  sans=$(printf '%s\n' "$out" | openssl x509 -noout -ext subjectAltName 2>/dev/null)
  contains "s_client SNI $name gets $san" "$san" "$sans"
done

# --- raw HTTP over TLS: 400 and pipelining order
sc() { openssl s_client -quiet -connect "127.0.0.1:$tls_port" -servername "$mg" -CAfile "$ca" 2>/dev/null; }
out=$(printf 'GARBAGE\r\n\r\n' | timeout 10 bash -c "$(declare -f sc); tls_port=$tls_port mg=$mg ca=$ca sc" | head -1 | tr -d '\r')
check "malformed request -> 400" "HTTP/1.1 400 Bad Request" "$out"
out=$( { printf 'POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n\r\nfirstPOST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 6\r\n\r\nsecond' "$mg" "$mg"
         printf 'POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\nConnection: close\r\n\r\nthird' "$mg"; } |
       timeout 10 bash -c "$(declare -f sc); tls_port=$tls_port mg=$mg ca=$ca sc" | grep -aoE 'first|second|third' | tr '\n' ' ')
check "pipelined requests answered in order" "first second third " "$out"

# --- the CONNECT proxy
P=(curl -sS --max-time 10 --cacert "$ca" --proxy "http://127.0.0.1:$proxy_port")
out=$("${P[@]}" "https://$mg/health")
contains "curl --proxy https://$mg/health" '"status":"ok"' "$out"
out=$("${P[@]}" "https://myvault.vault.azure.net/keys/k2")
contains "curl --proxy https://myvault.vault.azure.net/keys/k2" '"vault":"myvault"' "$out"
out=$("${P[@]}" "https://myvault.vault.localhost:$tls_port/keys/k3")
contains "curl --proxy to the local suffix on cmksim's port" '"vault":"myvault"' "$out"
out=$("${P[@]}" -o /dev/null -w '%{http_connect}' "https://example.com/" 2>/dev/null)
check "CONNECT example.com:443 refused" 403 "$out"
out=$("${P[@]}" -o /dev/null -w '%{http_connect}' "https://127.0.0.1:22/" 2>/dev/null)
check "CONNECT 127.0.0.1:22 refused" 403 "$out"
out=$(exec 3<>"/dev/tcp/127.0.0.1/$proxy_port"
      printf 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n' >&3
      timeout 5 cat <&3)
contains "refusal explains itself" "cmksim only serves its own hosts" "$out"
out=$(curl -sS --max-time 10 --proxy "http://127.0.0.1:$proxy_port" -w '[%{http_code}]' "http://example.com/")
contains "plain http through the proxy refused" "never forwards plain HTTP requests."$'\n'"[403]" "$out"

# --- the CA on disk
for leaf in management login graph vault managedhsm postgres; do
  out=$(openssl verify -CAfile "$ca" "$work/tls/$leaf.pem" 2>&1)
  check "openssl verify $leaf.pem" "$work/tls/$leaf.pem: OK" "$out"
done
check "ca.key mode" 600 "$(stat -c %a "$work/tls/ca.key")"
check "vault.key mode" 600 "$(stat -c %a "$work/tls/vault.key")"
out=$(openssl x509 -in "$ca" -noout -ext basicConstraints)
contains "CA has basicConstraints CA:TRUE" "CA:TRUE" "$out"

# --- node's https
if command -v node >/dev/null; then
  node "$src/node_clients.js" "$tls_port" "$proxy_port" "$ca" || fails=$((fails + 1))
else
  echo "FAIL node not found on PATH"
  fails=$((fails + 1))
fi

# --- graceful stop on SIGTERM
kill -TERM "$pid"
wait "$pid"
check "server exits 0 on SIGTERM" 0 "$?"
pid=

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed; server log:"
  cat "$work/server.log"
  exit 1
fi
echo "all HTTP client checks passed"
