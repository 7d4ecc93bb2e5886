#!/usr/bin/env bash
# Instructions per command, counted by valgrind (callgrind), for two commits side by side.
#
#   bench/instructions.sh [BASE_REV] [NEW_REV] [N]     (defaults: HEAD~1, HEAD, 100)
#
# Each revision is checked out in a temporary git worktree and served by this checkout's
# virtualenv on a fresh migrated SQLite file under valgrind. After 20 warm-up POSTs,
# instruction counting is switched on (callgrind_control -i on), N sequential
# `POST /api/orders` (the load harness's body) are sent, and counting is switched off.
# Instruction counts do not depend on what else the machine is doing (the same total
# twice to within ~1 %), so this compares the command path of two commits where timed
# runs on a busy 2-core machine cannot. It measures CPU work per command with one command
# in flight (batches of one): per-batch costs count fully; queueing does not show.
# SUBSCRIBERS=K connects K kitchen screens (python-socketio clients over a WebSocket, joined
# to `kitchen` like the harness's S2 subscribers) before counting; each POST then waits
# until all K have its `order:created`, so the count includes the fan-out.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BASE=${1:-HEAD~1}
NEW=${2:-HEAD}
N=${3:-100}
SUBSCRIBERS=${SUBSCRIBERS:-0}
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 2; }
[ -x "$HERE/.venv/bin/python" ] || { echo "run 'make install' in $HERE first" >&2; exit 2; }
WORK=$(mktemp -d /tmp/order-service-instructions.XXXXXX)
VPID=""
cleanup() {
  if [ -n "$VPID" ]; then kill -KILL "$VPID" 2>/dev/null || true; fi
  for rev in base new; do git -C "$HERE" worktree remove --force "$WORK/$rev" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/post.py" <<'PY'
import asyncio, sys
import httpx, socketio
base, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = {"order_type": "dine_in", "table_number": 7, "notes": "bench", "items": [
    {"menu_item_id": "m-3", "name": "Item 3", "quantity": 2, "unit_price": 575, "station": "grill"}]}

async def main() -> None:
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        for _ in range(600):  # valgrind starts slowly: up to 5 min
            try:
                await client.get("/health")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.5)
        got: asyncio.Queue[str] = asyncio.Queue()
        screens = []
        for _ in range(k):  # kitchen screens, as the harness's S2 subscribers
            screen = socketio.AsyncClient()
            screen.on("order:created", lambda payload: got.put_nowait(payload["order_id"]))
            await screen.connect(base, transports=["websocket"], wait_timeout=300)
            await screen.call("join:kitchen", timeout=300)
            screens.append(screen)
        for _ in range(n):
            response = await client.post("/api/orders", json=body)
            assert response.status_code == 201, response.text
            for _ in range(k):  # every screen has it before the next order
                assert await asyncio.wait_for(got.get(), 300) == response.json()["id"]
        for screen in screens:
            await screen.disconnect()

asyncio.run(main())
PY

count() { # rev label -> prints instructions
  local rev=$1 label=$2 port dir db out
  dir="$WORK/$label"
  git -C "$HERE" worktree add --detach -f "$dir" "$rev" >/dev/null 2>&1
  port=$("$HERE/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  db="sqlite+aiosqlite:///$WORK/$label.db"
  out="$WORK/$label.callgrind"
  (cd "$dir" && ORDER_SERVICE_DATABASE_URL=$db PYTHONPATH=$dir "$HERE/.venv/bin/order-service" db upgrade >/dev/null)
  (cd "$dir" && ORDER_SERVICE_DATABASE_URL=$db ORDER_SERVICE_LOG_LEVEL=warning PYTHONPATH=$dir \
    PYTHONMALLOC=malloc exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    "$HERE/.venv/bin/python" "$HERE/.venv/bin/order-service" serve --host 127.0.0.1 --port "$port" \
    >"$WORK/$label.log" 2>&1) &
  VPID=$!
  "$HERE/.venv/bin/python" "$WORK/post.py" "http://127.0.0.1:$port" 20 0
  callgrind_control -i on "$VPID" >/dev/null 2>&1
  "$HERE/.venv/bin/python" "$WORK/post.py" "http://127.0.0.1:$port" "$N" "$SUBSCRIBERS"
  callgrind_control -i off "$VPID" >/dev/null 2>&1
  callgrind_control -d "$VPID" >/dev/null 2>&1
  kill -INT "$VPID"
  wait "$VPID" 2>/dev/null || true
  VPID=""
  cat "$out".* "$out" 2>/dev/null | awk '/^totals:/ {s += $2} END {print s}'
}

base=$(count "$BASE" base)
new=$(count "$NEW" new)
"$HERE/.venv/bin/python" - "$BASE" "$NEW" "$N" "$base" "$new" "$SUBSCRIBERS" <<'PY'
import sys
base_rev, new_rev, n, base, new, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
print(f"instructions per POST /api/orders ({n} sequential, {k} kitchen screens, callgrind):")
print(f"  {base_rev:>12}: {base / n / 1e6:8.2f} M")
print(f"  {new_rev:>12}: {new / n / 1e6:8.2f} M")
print(f"  ratio new/base: {new / base:.3f}")
PY
