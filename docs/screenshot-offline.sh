#!/bin/sh
# Screenshots of /docs and /redoc served with the network off: the server and headless Chromium run
# in a network namespace that holds only loopback (root, or unshare -rn, and `apt-get install chromium`).
# Usage: unshare -n sh docs/screenshot-offline.sh   (from the repository, after `make install-run`)
set -e
ip link set lo up
if ip route get 1.1.1.1 >/dev/null 2>&1; then echo "the network is reachable: run under unshare -n" >&2; exit 1; fi
DATA=$(mktemp -d)
PORT=8765
CALLREPORT_DATA_DIR="$DATA" .venv/bin/callreport serve --port $PORT >"$DATA/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/docs >/dev/null && break; sleep 0.2; done
for page in docs redoc; do
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1000 \
    --virtual-time-budget=8000 --screenshot="docs/$page-offline.png" "http://127.0.0.1:$PORT/$page"
done
