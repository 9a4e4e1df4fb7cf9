#!/usr/bin/env bash
# The secured deployment end to end, with the real binary: HTTPS with a
# self-signed certificate made here by the openssl CLI, ES256 tokens from a
# JWKS file (keys made by `watershed token --generate-key`), HS256 tokens
# minted by `watershed load` per viewer; then exactly-once verification,
# key rotation by SIGHUP, a broken JWKS at reload, and the token tool's
# refusals. Exit 0 when every check holds.
# usage: tests/auth_tls_e2e.sh WATERSHED_BINARY
set -euo pipefail
bin="$(realpath "$1")"
work="$(mktemp -d /tmp/watershed-auth-e2e.XXXXXX)"
server=""
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
fail() { echo "auth_tls_e2e: FAIL: $*"; echo "--- server log"; cat server.log 2>/dev/null || true; exit 1; }
expect_exit() {  # expect_exit CODE what... : runs the command, requires that exit code
  local want=$1; shift
  local got=0
  "$@" >out.txt 2>&1 || got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want: $(cat out.txt)"
}

port=""
for _ in $(seq 50); do
  candidate=$((20000 + RANDOM % 30000))
  if ! ss -ltn "sport = :$candidate" | grep -q LISTEN; then port=$candidate; break; fi
done
[ -n "$port" ] || fail "no free port"
server_addr="127.0.0.1:$port"

# Certificate for localhost / 127.0.0.1, and a second, untrusted one.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.crt -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.crt -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
# Signing keys: ES256 "k1" (in the JWKS), an HS256 secret for the load's per-viewer tokens.
"$bin" token --generate-key ES256 --kid k1 --key k1.pem >jwks.json
grep -q '"kid":"k1"' jwks.json || fail "no JWKS printed: $(cat jwks.json)"
head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >hs256.secret

"$bin" serve --data-dir data --port "$port" --partitions 2 --checkpoint-interval 500ms \
  --tls-cert tls.crt --tls-key tls.key --auth-jwks-file jwks.json --auth-secret-file hs256.secret \
  --auth-jwks-reload 1h >server.log 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf --cacert tls.crt "https://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf --cacert tls.crt "https://127.0.0.1:$port/healthz" >/dev/null || fail "server did not start"

admin=$("$bin" token --key k1.pem --kid k1 --sub 1 --region us --roles admin)
# TLS: verified against our CA; refused against another; plain HTTP refused.
expect_exit 0 "$bin" status --server "$server_addr" --ca-file tls.crt --token "$admin"
expect_exit 1 "$bin" status --server "$server_addr" --ca-file other.crt --token "$admin"
grep -q "certificate verify failed" out.txt || fail "untrusted certificate not reported: $(cat out.txt)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/status")" = 400 ] || fail "plain HTTP accepted"
# Auth: no token, and a token the server never issued keys for.
expect_exit 1 "$bin" status --server "$server_addr" --ca-file tls.crt
grep -q token_missing out.txt || fail "no token_missing: $(cat out.txt)"
"$bin" token --generate-key ES256 --kid k2 --key k2.pem >jwks2.json
admin2=$("$bin" token --key k2.pem --kid k2 --sub 1 --region us --roles admin)
expect_exit 1 "$bin" status --server "$server_addr" --ca-file tls.crt --token "$admin2"
grep -q token_unknown_kid out.txt || fail "no token_unknown_kid: $(cat out.txt)"

# Ingest with a token per viewer (one viewer per request), then every story
# and window against the ground truth.
"$bin" load --server "$server_addr" --ca-file tls.crt --secret-file hs256.secret --rate 0 --events 4000 \
  --connections 6 --stories 200 --truth truth.txt >load.log 2>&1 || fail "load: $(tail -5 load.log)"
grep -q " 0 refused" load.log || fail "events refused: $(tail -3 load.log)"
"$bin" load --server "$server_addr" --ca-file tls.crt --token "$admin" --verify truth.txt >verify.log 2>&1 ||
  fail "verify: $(head -5 verify.log)"
grep -q ": 0 mismatches" verify.log || fail "$(tail -1 verify.log)"

# Rotation without a restart: k2 replaces k1, SIGHUP.
cp jwks2.json jwks.json
kill -HUP "$server"
for _ in $(seq 50); do grep -q "JWKS reloaded" server.log && break; sleep 0.1; done
expect_exit 0 "$bin" status --server "$server_addr" --ca-file tls.crt --token "$admin2"
expect_exit 1 "$bin" status --server "$server_addr" --ca-file tls.crt --token "$admin"
grep -q token_unknown_kid out.txt || fail "retired key still accepted: $(cat out.txt)"
# A broken JWKS at reload keeps the keys in use.
echo '{"keys": [' >jwks.json
kill -HUP "$server"
for _ in $(seq 50); do grep -q "reload failed" server.log && break; sleep 0.1; done
grep -q "reload failed" server.log || fail "broken JWKS not reported"
expect_exit 0 "$bin" status --server "$server_addr" --ca-file tls.crt --token "$admin2"

# The token tool refuses bad requests with a message and exit 2.
expect_exit 2 "$bin" token --key k2.pem --kid k2 --sub abc --region us --roles admin
expect_exit 2 "$bin" token --key k2.pem --kid k2 --sub 5 --region mars --roles admin
expect_exit 2 "$bin" token --key k2.pem --kid k2 --sub 5 --region us --roles wizard
expect_exit 2 "$bin" token --generate-key ES256 --kid k3 --key k2.pem   # never overwrites a key

kill -TERM "$server"
wait "$server" || fail "server exited non-zero at SIGTERM"
server=""
echo "auth_tls_e2e: all checks passed"
