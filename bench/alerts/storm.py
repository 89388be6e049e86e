#!/usr/bin/env python3
"""A market-open storm: N distinct alerts (40 services x 25 alert names x instances, no
catalog) all starting at the same second, sent over one minute in bodies of 10.

Usage: python3 bench/alerts/storm.py [--alerts 20000] --out DIR   (writes DIR/STREAM.jsonl)

The same estate as the HTTP throughput bench (throughput.rs). Replaying it measures how
correlation copes when every alert of a storm is open at once.
"""
import argparse
import json
import os

NAMES = ["HighLatency", "HighErrorRate", "CPUThrottling", "MemoryPressure", "DiskFull", "DiskIOSaturated",
         "PodCrashLooping", "PodNotReady", "NodeNotReady", "ReplicationLag", "ConnectionsExhausted",
         "QueueBacklog", "ConsumerLag", "CertificateExpiring", "TargetDown", "SLOBurnRateFast",
         "SLOBurnRateSlow", "GCPauseLong", "ThreadPoolSaturated", "CacheHitRateLow", "Http5xxSpike",
         "OrderRejectSpike", "MarketDataStale", "ClockSkew", "PacketLoss"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    bodies = a.alerts // 10
    with open(os.path.join(a.out, "STREAM.jsonl"), "w") as f:
        for b in range(bodies):
            alerts = []
            for k in range(10):
                i = b * 10 + k
                svc = "svc-%02d" % (i % 40)
                name = NAMES[(i // 40) % len(NAMES)]
                inst = "%s-%03d" % (svc, i // 1000)
                alerts.append({"status": "firing",
                               "labels": {"alertname": name, "service": svc, "instance": inst, "env": "prod",
                                          "severity": "critical" if i % 7 == 0 else "warning"},
                               "annotations": {"summary": f"{name} on {inst}"},
                               "startsAt": "2026-03-02T01:00:00Z", "endsAt": "0001-01-01T00:00:00Z"})
            body = {"version": "4", "status": "firing", "receiver": "warroom", "groupLabels": {},
                    "commonLabels": {}, "alerts": alerts,
                    "x_sentAt": "2026-03-02T01:00:%02dZ" % (b * 60 // bodies)}
            f.write(json.dumps(body) + "\n")


if __name__ == "__main__":
    main()
