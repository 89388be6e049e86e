#!/usr/bin/env bash
# Retrieval quality: ingests a corpus, runs a query set through `warroom knowledge search
# --batch` and scores it with score.py (R@k, MRR, abstention).
#
#   bench/knowledge/eval.sh [dev|own|all] [none|local]      (default: all local)
#
# Uses target/debug/warroom (or $WARROOM_BIN); the index lives in a temporary directory.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SET="${1:-all}"
EMB="${2:-local}"
BIN="${WARROOM_BIN:-$ROOT/target/debug/warroom}"
DEV="${WARROOM_DEV_SET:-/work/shared/data/runbooks-dev}"
OWN="$ROOT/knowledge/eval"
SCORE="$DEV/score.py"
[ -f "$SCORE" ] || SCORE="$OWN/score.py"
if [ "$EMB" = local ]; then "$ROOT/deploy/setup-models.sh" >/dev/null; fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

run() { # name corpus queries [no_runbook]
    local name="$1" corpus="$2" queries="$3" none="${4:-}"
    local idx="$TMP/$name-index"
    "$BIN" knowledge ingest --index "$idx" --embedder "$EMB" "$corpus"
    local all="$TMP/$name-queries.jsonl"
    cat "$queries" ${none:+"$none"} > "$all"
    "$BIN" knowledge search --index "$idx" --embedder "$EMB" --batch "$all" -k 10 --out "$TMP/$name-run.jsonl"
    echo "== $name ($EMB)"
    python3 "$SCORE" --queries "$queries" --run "$TMP/$name-run.jsonl" ${none:+--no-runbook "$none"}
}

case "$SET" in
dev) run dev "$DEV/corpus" "$DEV/queries.jsonl" ;;
own) run own "$OWN/corpus" "$OWN/queries.jsonl" "$OWN/queries_no_runbook.jsonl" ;;
all)
    run dev "$DEV/corpus" "$DEV/queries.jsonl"
    run own "$OWN/corpus" "$OWN/queries.jsonl" "$OWN/queries_no_runbook.jsonl"
    ;;
*) echo "usage: $0 [dev|own|all] [none|local]" >&2; exit 2 ;;
esac
