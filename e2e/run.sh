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
"$bin" serve --demo --data-dir "$data" --bind 127.0.0.1 --port "$https_port" --http-port "$http_port" \
  --public-base-url "http://127.0.0.1:$http_port" \
  --rate-limit-per-minute 600 >"$data/out.txt" 2>"$data/server.log" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

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
