#!/usr/bin/env bash
# Run the shared harness's anchors (run_anchors.sh) with this service as two more servers,
# `service` (the defaults: synchronous=FULL) and `service-normal` (synchronous=NORMAL),
# each started like the harness's own servers: pinned to SERVER_CPU, on a fresh migrated
# SQLite file for every run (the harness's TARGET_BASE mode never restarts a target, so its
# S2/S3 would inherit S1's board). Everything else (interleaving, rotation, medians) is the
# harness's. A third server, `service-alt`, is the service with the variables in
# SERVICE_ALT_ENV added (an A/B of one setting in the same run), e.g.
#   SERVICE_ALT_ENV=ORDER_SERVICE_WS_DIRECT_WRITES=false SERVERS="service service-alt" ...
#
#   HARNESS=/work/benchrun bench/anchors_with_service.sh            # REPS=3, S1 S2 S3
#   REPS=1 SCENARIOS=S1 SERVERS="node service" bench/anchors_with_service.sh
#
# One more scenario is added for EXTRA pairs: S2r, S2 with the harness's raw Engine.IO
# subscriber client (as S3r is to S3), e.g. EXTRA="S2r:node S2r:service". With it, the
# share of S2's end-to-end time that is the load generator decoding socket.io-client
# packets (one Node process decodes all 50 subscribers' copies) shows against the rest.
#
# HARNESS is a writable copy of ../shared/bench with its setup.sh done. The patched script is
# a temporary copy; the harness itself is not modified. Results land in $HARNESS/results/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-/work/benchrun}
[ -x "$HARNESS/run_anchors.sh" ] || { echo "no harness at $HARNESS (set HARNESS)" >&2; exit 2; }
[ -x "$HERE/.venv/bin/order-service" ] || { echo "run 'make install' in $HERE first" >&2; exit 2; }
patched="$HARNESS/.run_anchors_with_service.sh"
"$HERE/.venv/bin/python" - "$HARNESS/run_anchors.sh" "$patched" "$HERE" <<'PY'
import sys
source, target, service_dir = sys.argv[1:4]
text = open(source).read()
anchor = "    py-uvloop)"
case = f'''    service|service-normal|service-alt)  # order-service, fresh migrated SQLite file per run
      rm -rf tmp/anchors/service && mkdir -p tmp/anchors/service
      local sync=FULL; [ "$name" = "service-normal" ] && sync=NORMAL
      local alt=""; [ "$name" = "service-alt" ] && alt="${{SERVICE_ALT_ENV:-}}"
      ORDER_SERVICE_DATABASE_URL="sqlite+aiosqlite:///$PWD/tmp/anchors/service/orders.db" \\
        {service_dir}/.venv/bin/order-service db upgrade >"$logf" 2>&1
      ORDER_SERVICE_DATABASE_URL="sqlite+aiosqlite:///$PWD/tmp/anchors/service/orders.db" \\
      ORDER_SERVICE_SQLITE_SYNCHRONOUS=$sync ORDER_SERVICE_LOG_LEVEL=warning \\
        env $alt taskset -c "$SERVER_CPU" {service_dir}/.venv/bin/order-service serve \\
        --host 127.0.0.1 --port "$PORT" >>"$logf" 2>&1 &
      ;;
'''
if "service|service-normal|service-alt)" not in text:
    if anchor not in text:
        sys.exit("run_anchors.sh has no 'py-uvloop)' case to insert before")
    text = text.replace(anchor, case + anchor, 1)
raw_s3 = "    S3r) echo"
s2r = '    S2r) echo "--rate 200 --subscribers 50 --client raw" ;;  # S2, raw subscriber client\n'
if "    S2r)" not in text:
    if raw_s3 not in text:
        sys.exit("run_anchors.sh has no 'S3r)' scenario to insert S2r before")
    text = text.replace(raw_s3, s2r + raw_s3, 1)
open(target, "w").write(text)
PY
chmod +x "$patched"
cd "$HARNESS"
export SERVERS=${SERVERS-"node py-uvloop service"}
export EXTRA=${EXTRA-"S1:service-normal"}
export SKIP_STORE=${SKIP_STORE-1}
exec "$patched"
