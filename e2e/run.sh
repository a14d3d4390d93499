#!/usr/bin/env bash
# Browser end-to-end test: starts `ordersync serve --demo` on free local ports and drives it
# with headless Chromium (Debian's package) through playwright-core. Screenshots land in
# e2e/artifacts/. Needs: chromium, node/npm (see .ci/run for the installs).
set -euo pipefail
cd "$(dirname "$0")"

target="${CARGO_TARGET_DIR:-../target}"
(cd .. && cargo build --quiet --bin ordersync)
bin="$target/debug/ordersync"
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
data="$(mktemp -d)"
https_port="$(free_port)"; http_port="$(free_port)"
# As in a shop: guests on plain HTTP, the owner on HTTPS with the box's own CA. The public base
# URL stands for the box's LAN address. 600/min: the owner's and the customer's browsers share
# 127.0.0.1 here, unlike devices on a LAN.
# restart.sh stops the server (SIGKILL, as a power cut would) and starts it again on the same
# data dir and ports; flow.mjs calls it mid-flow.
cat >"$data/start.sh" <<EOF
"$bin" serve --demo --data-dir "$data" --bind 127.0.0.1 --port "$https_port" --http-port "$http_port" \\
  --public-base-url "http://127.0.0.1:$http_port" \\
  --rate-limit-per-minute 600 >>"$data/out.txt" 2>>"$data/server.log" &
echo \$! >"$data/server.pid"
EOF
cat >"$data/restart.sh" <<EOF
kill -9 "\$(cat "$data/server.pid")"
while curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; do sleep 0.05; done
sh "$data/start.sh"
for _ in \$(seq 1 200); do curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && exit 0; sleep 0.05; done
exit 1
EOF
sh "$data/start.sh"
cleanup() {
  kill "$(cat "$data/server.pid")" 2>/dev/null || true
  sleep 0.2
  rm -rf "$data"
}
trap cleanup EXIT
export RESTART_SERVER="sh $data/restart.sh"

for _ in $(seq 1 100); do
  grep -q "Owner login" "$data/out.txt" 2>/dev/null && break
  sleep 0.1
done
table_url="$(grep 'Customer, table 1:' "$data/out.txt" | awk '{print $4}')"
dashboard="$(grep 'Owner dashboard:' "$data/out.txt" | awk '{print $3}')"
login="$(grep 'Owner login:' "$data/out.txt" | sed 's/.*Owner login: *//')"
export TABLE_URL="$table_url"
export OWNER_URL="$dashboard"
export OWNER_EMAIL="${login%% / *}"
export OWNER_PASSWORD="${login##* / }"
export ARTIFACTS="${ARTIFACTS:-$PWD/artifacts}"
if ! node flow.mjs; then
  echo "---- server log"; grep -v "assets/" "$data/server.log" | tail -40
  exit 1
fi

# A second box, for what the shop network does to it: its printed (public) address is not one
# of its own (the router moved it), and its Toss API address answers nothing (internet down).
data2="$(mktemp -d)"
https2="$(free_port)"; http2="$(free_port)"
"$bin" serve --demo --data-dir "$data2" --bind 127.0.0.1 --port "$https2" --http-port "$http2" \
  --public-base-url "http://192.0.2.50:$http2" --interface-addresses 192.0.2.7 \
  --payments toss --toss-secret-key test_sk_e2e --toss-client-key test_ck_e2e \
  --toss-api-base "http://127.0.0.1:9" --rate-limit-per-minute 600 \
  >"$data2/out.txt" 2>"$data2/server.log" &
server2=$!
trap 'cleanup; kill "$server2" 2>/dev/null || true; rm -rf "$data2"' EXIT
for _ in $(seq 1 100); do
  grep -q "Owner login" "$data2/out.txt" 2>/dev/null && break
  sleep 0.1
done
login2="$(grep 'Owner login:' "$data2/out.txt" | sed 's/.*Owner login: *//')"
export OUTAGE_TABLE_URL="$(grep 'Customer, table 1:' "$data2/out.txt" | awk '{print $4}' | sed "s#192.0.2.50#127.0.0.1#")"
export OUTAGE_OWNER_URL="https://127.0.0.1:$https2/owner"
export OUTAGE_OWNER_EMAIL="${login2%% / *}"
export OUTAGE_OWNER_PASSWORD="${login2##* / }"
if ! node outage.mjs; then
  echo "---- second server log"; grep -v "assets/" "$data2/server.log" | tail -40
  exit 1
fi
