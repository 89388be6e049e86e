#!/usr/bin/env python3
"""Cold start to /healthz and idle RSS of the warroom binary.

Usage: python3 bench/startup.py [--binary target/release/warroom] [--runs 10]

Each run starts the binary with a fresh data directory (so the sled store is created
from nothing), polls GET /healthz every millisecond until it answers 200, records the
wall time from exec to that answer, waits 2 s idle and reads VmRSS from /proc.
Prints p50/max start time and RSS figures.
"""
import argparse, os, shutil, socket, statistics, subprocess, tempfile, time, urllib.request


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_run(binary):
    d = tempfile.mkdtemp(prefix="warroom-bench-")
    port = free_port()
    cfg = os.path.join(d, "w.toml")
    with open(cfg, "w") as f:
        f.write(f'[general]\ndata_dir = "{d}/data"\n[http]\naddr = "127.0.0.1:{port}"\n')
    env = dict(os.environ, WARROOM_API_TOKEN="bench", RUST_LOG="warn")
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "run", "--config", cfg], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}/healthz"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.001)
        if time.perf_counter() - t0 > 30:
            raise SystemExit("not ready after 30 s")
    ready = time.perf_counter() - t0
    time.sleep(2)
    rss = rss_kib(p.pid)
    p.terminate(); p.wait(timeout=10)
    shutil.rmtree(d, ignore_errors=True)
    return ready, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/warroom")
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()
    results = [one_run(a.binary) for _ in range(a.runs)]
    starts = sorted(r[0] * 1000 for r in results)
    rss = sorted(r[1] / 1024 for r in results)
    print(f"binary: {a.binary} ({os.path.getsize(a.binary) / 1e6:.1f} MB)")
    print(f"cold start to /healthz 200: p50 {statistics.median(starts):.1f} ms, max {starts[-1]:.1f} ms over {a.runs} runs (fresh store each)")
    print(f"idle RSS after 2 s: median {statistics.median(rss):.1f} MiB, max {rss[-1]:.1f} MiB")


if __name__ == "__main__":
    main()
