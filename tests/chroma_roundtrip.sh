#!/usr/bin/env bash
# Run under `unshare -rn` by tests/test_chroma_server.py: a Chroma server and the client share a network
# namespace that has nothing but loopback, so neither can reach anything else.
# Usage: chroma_roundtrip.sh PYTHON DATA_DIR DOCS_DIR QUESTION GONE_FILE
set -euo pipefail
python=$1 data=$2 docs=$3 question=$4 gone=$5
store=chroma+http://127.0.0.1:8000

ip link set lo up
# The Rust server has no product telemetry; these keep any Python part and OpenTelemetry quiet as well.
ANONYMIZED_TELEMETRY=False CHROMA_ANONYMIZED_TELEMETRY=False OTEL_SDK_DISABLED=true \
    "$(dirname "$python")/chroma" run --path "$data" --host 127.0.0.1 --port 8000 > "$data.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
"$python" - <<'PY'
import time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen("http://127.0.0.1:8000/api/v2/heartbeat", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
else:
    raise SystemExit("the Chroma server did not start")
PY
"$python" -m ingest "$docs" --store "$store"
"$python" -m rag.ask --json "$question" --store "$store"
rm "$docs/$gone"
"$python" -m ingest "$docs" --prune --store "$store"
# --in on a server store: the server filters by keyed hashes of path prefixes.
"$python" -m rag.ask --json --in meetings/ "Who chaired the board meeting?" --store "$store"
# Crypto-shredding on a server that is never vacuumed: keep the sealed records, delete the collection, and
# try every key the client still holds on them (before the deletion too, to show the check can open them).
"$python" "$(dirname "$0")/shred_check.py" keep "$store" "$data.sealed"
"$python" "$(dirname "$0")/shred_check.py" open "$store" "$data.sealed"
"$python" -m rag.collections delete default --store "$store" > /dev/null
"$python" "$(dirname "$0")/shred_check.py" open "$store" "$data.sealed"
