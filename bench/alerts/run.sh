#!/usr/bin/env bash
# Quality benchmark of the alert pipeline.
#
# Usage: bench/alerts/run.sh [SEED]
#
# Builds the release binary, generates one trading day with each generator (fixed seeds),
# replays each stream twice through `warroom alerts replay` (with the generator's service
# catalog, and with no configuration at all, as an unknown sender would be replayed),
# checks that the two runs of a replay are byte-identical, scores them against the truth
# and prints a table. Throughput is the best of three replays of a ten-times-denser day.
# Outputs go to target/bench-alerts/ (override with OUT=dir). To see where recall, purity
# and compression are lost: bench/alerts/explain.py --truth T --groups G --stream S [-v].
# SWEEP=1 also replays each generator's day at 100, 150, 200 and 300 incidents (same
# noise), to show how the scores depend on how many incidents overlap.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${1:-7}
OUT=${OUT:-target/bench-alerts}
mkdir -p "$OUT"

cargo build --release -p warroom >&2
BIN=${WARROOM_BIN:-target/release/warroom}

python3 bench/alerts/gen.py --seed "$SEED" --out "$OUT/gen" >&2
python3 bench/alerts/gen2.py --seed "$((SEED + 4))" --out "$OUT/gen2" >&2

# ceil: the compression of a perfect grouping (raw alerts / true incidents), the most any
# pipeline can reach with recall 1; 40x is out of reach where it is below 40.
printf '%-5s %-8s %8s %8s %7s %7s %7s %7s %7s %6s %6s\n' \
  stream catalog raw groups noise compr recall purity supp det ceil
for g in gen gen2; do
  for mode in catalog none; do
    cfg=()
    if [ "$mode" = catalog ]; then cfg=(--config "$OUT/$g/estate.toml"); fi
    groups="$OUT/$g/GROUPS-$mode.jsonl"
    "$BIN" alerts replay --input "$OUT/$g/STREAM.jsonl" --output "$groups" "${cfg[@]}" 2>"$OUT/$g/replay-$mode.log"
    "$BIN" alerts replay --input "$OUT/$g/STREAM.jsonl" --output "$groups.again" "${cfg[@]}" 2>/dev/null
    if cmp -s "$groups" "$groups.again"; then det=same; else det=DIFF; fi
    python3 bench/alerts/score.py --truth "$OUT/$g/TRUTH.jsonl" --groups "$groups" \
      --stream "$OUT/$g/STREAM.jsonl" --json |
      python3 -c '
import json, sys
s = json.load(sys.stdin)
g, mode, det = sys.argv[1:4]
print("%-5s %-8s %8d %8d %7d %6.1fx %7.3f %7.3f %7d %6s %5.1fx" % (g, mode, s["raw_alerts"], s["groups"], s["noise_groups"],
      s["compression"], s["recall"], s["purity"], s["suppressed_noise"] + s["suppressed_incident"], det,
      s["raw_alerts"] / max(1, s["incidents"])))' "$g" "$mode" "$det"
  done
done

if [ "${SWEEP:-0}" = 1 ]; then
  printf '\n%-5s %9s %8s %7s %7s %7s %7s %9s\n' stream incidents raw groups compr recall purity ambiguous
  for g in gen gen2; do
    seed=$SEED; [ "$g" = gen2 ] && seed=$((SEED + 4))
    for n in 100 150 200 300; do
      d="$OUT/sweep-$g-$n"
      amb=$(python3 "bench/alerts/$g.py" --seed "$seed" --incidents "$n" --out "$d" | grep -o '[0-9]*% of incident alerts ambiguous' | cut -d' ' -f1 || true)
      "$BIN" alerts replay --input "$d/STREAM.jsonl" --output "$d/GROUPS.jsonl" --config "$d/estate.toml" 2>/dev/null
      python3 bench/alerts/score.py --truth "$d/TRUTH.jsonl" --groups "$d/GROUPS.jsonl" --stream "$d/STREAM.jsonl" --json |
        python3 -c '
import json, sys
s = json.load(sys.stdin)
print("%-5s %9s %8d %7d %6.1fx %7.3f %7.3f %9s" % (sys.argv[1], sys.argv[2], s["raw_alerts"], s["groups"], s["compression"],
      s["recall"], s["purity"], sys.argv[3] or "-"))' "$g" "$n" "$amb"
    done
  done
fi

# Throughput: a day with ten times the incidents and noise, best of three.
python3 bench/alerts/gen.py --seed "$SEED" --incidents 3000 --noise-sources 1200 --out "$OUT/dense" >&2
best=0
for _ in 1 2 3; do
  "$BIN" alerts replay --input "$OUT/dense/STREAM.jsonl" --output "$OUT/dense/GROUPS.jsonl" \
    --config "$OUT/dense/estate.toml" 2>"$OUT/dense/replay.log"
  rate=$(grep -o '[0-9]* alerts/s' "$OUT/dense/replay.log" | cut -d' ' -f1)
  if [ "${rate:-0}" -gt "$best" ]; then best=$rate; fi
done
raw=$(grep -o '[0-9]* raw alerts' "$OUT/dense/replay.log" | cut -d' ' -f1)
echo "throughput: $best alerts/s (release, $raw raw alerts, one core, parse + pipeline + output)"

# A market-open storm: 20,000 distinct alerts starting in the same second.
python3 bench/alerts/storm.py --out "$OUT/storm"
"$BIN" alerts replay --input "$OUT/storm/STREAM.jsonl" --output "$OUT/storm/GROUPS.jsonl" 2>"$OUT/storm/replay.log"
echo "storm: $(grep -o '[0-9]* raw alerts.*' "$OUT/storm/replay.log" | tr -d '\n')"
