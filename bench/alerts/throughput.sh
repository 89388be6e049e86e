#!/usr/bin/env bash
# Alert ingestion throughput: warroom (release build, durable alert log in its own data dir)
# and Prometheus Alertmanager (Debian package `prometheus-alertmanager`, own storage path) fed
# the same alerts over HTTP on loopback, at 1, 8 and 64 concurrent clients, with 1 and 10
# alerts per request. Prints alerts/s, requests/s, latency and the warroom/Alertmanager ratio.
#
# Usage: bench/alerts/throughput.sh [extra options of the example, e.g. --seconds 10]
# Needs: apt-get install -y prometheus-alertmanager (or ALERTMANAGER=/path/to/alertmanager;
# ALERTMANAGER=none runs warroom alone).
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=${CARGO_TARGET_DIR:-target}
AM=${ALERTMANAGER:-$(command -v prometheus-alertmanager || command -v alertmanager || echo none)}
cargo build --release -p warroom --bin warroom >&2
cargo build --release -p warroom-tests --example alerts_throughput >&2
exec "$TARGET/release/examples/alerts_throughput" \
  --warroom "$TARGET/release/warroom" --alertmanager "$AM" "$@"
