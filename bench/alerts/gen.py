#!/usr/bin/env python3
"""Realistic alert stream for a securities/futures firm: one trading day.

Usage: python3 bench/alerts/gen.py --seed 7 --out DIR

Writes DIR/STREAM.jsonl (Alertmanager webhook v4 bodies, one per line, in send order,
each with `x_sentAt`), DIR/TRUTH.jsonl (`{"alert_key", "incident": id|null, "kind"}` per
alert episode that appears in the stream) and DIR/estate.toml (the service catalog as
`[[services]]` plus a typical `[alerts]` section with inhibition rules).

The model:
- an estate of 20 services with dependencies (gateway, order router, matching, risk,
  market data, clearing, settlement, db, cache, mq, ...), each on a few hosts/pods;
- ~300 incidents a day, more during the trading sessions (09:00-11:30, 13:00-15:15,
  21:00-02:30 Asia/Shanghai), each a root alert on one service (sometimes a host) and
  symptom alerts on services that depend on it, 1-3 hops downstream, with onset delays
  per hop, varied alert names per layer, some flapping symptoms;
- a market-open storm at 09:00 (feed gap: dozens of feed-handler pods plus downstream);
- ~120 independent noise sources: blips, flappers, long-running warnings, nightly jobs;
- a sending Alertmanager: group_by [alertname, service], group_wait 30s,
  group_interval 4m, repeat_interval --repeat minutes (4), bodies carry the whole group,
  resolved alerts are sent once.

Python 3.11 standard library only. Deterministic for a seed.
"""
import argparse
import bisect
import heapq
import json
import math
import os
import random
from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8))
DAY0 = datetime(2026, 3, 2, 0, 0, tzinfo=CST)

# name: (depends_on, hosts, root alert names, symptom alert names, kind)
ESTATE = {
    "trading-gateway": (["order-router", "risk-engine", "auth"], "tgw", 4,
                        ["FIXSessionDisconnected", "GatewayThreadPoolExhausted"],
                        ["HighLatency", "HighErrorRate", "FIXSessionDisconnected"], "k8s"),
    "order-router": (["matching-engine", "risk-engine", "mq"], "ordr", 4,
                     ["OrderRouterQueueBacklog", "KubePodCrashLooping"],
                     ["HighLatency", "OrderRejectRateHigh", "HighErrorRate"], "k8s"),
    "matching-engine": (["orders-db", "mq"], "match", 2,
                        ["MatchingLatencyHigh", "MatchingEngineHalted"],
                        ["MatchingLatencyHigh", "HighErrorRate"], "vm"),
    "risk-engine": (["position-service", "cache", "orders-db"], "risk", 3,
                    ["RiskCheckTimeout", "JVMGCPauseLong"],
                    ["RiskCheckTimeout", "HighLatency", "HighErrorRate"], "k8s"),
    "position-service": (["orders-db", "mq"], "pos", 3,
                         ["PositionMismatch", "KubePodCrashLooping"],
                         ["HighLatency", "HighErrorRate", "PositionMismatch"], "k8s"),
    "market-data": (["md-feed-handler", "cache"], "mdd", 4,
                    ["MarketDataStale", "KubePodCrashLooping"],
                    ["MarketDataStale", "HighLatency"], "k8s"),
    "md-feed-handler": (["exchange-link"], "feed", 6,
                        ["MarketDataGap", "FeedHandlerDisconnected"],
                        ["MarketDataGap", "FeedLatencyHigh"], "vm"),
    "exchange-link": ([], "xlink", 2,
                      ["LineDown", "PacketLossHigh"],
                      ["PacketLossHigh"], "net"),
    "clearing": (["orders-db", "mq", "position-service"], "clr", 2,
                 ["ClearingBatchFailed", "ClearingBatchDelayed"],
                 ["ClearingBatchDelayed", "HighErrorRate"], "vm"),
    "settlement": (["clearing", "bank-gateway", "orders-db"], "stl", 2,
                   ["SettlementFileMissing", "SettlementJobFailed"],
                   ["SettlementJobFailed", "HighLatency"], "vm"),
    "bank-gateway": (["exchange-link"], "bank", 2,
                     ["BankGatewayTimeout", "TLSHandshakeErrors"],
                     ["BankGatewayTimeout"], "vm"),
    "reporting": (["orders-db-replica", "mq"], "rpt", 2,
                  ["ReportGenerationFailed", "JVMGCPauseLong"],
                  ["ReportGenerationFailed", "HighLatency"], "k8s"),
    "web-portal": (["trading-gateway", "auth", "market-data"], "web", 4,
                   ["HighErrorRate", "KubePodCrashLooping"],
                   ["HighLatency", "HighErrorRate", "Http5xxRateHigh"], "k8s"),
    "mobile-api": (["trading-gateway", "auth", "market-data"], "mob", 4,
                   ["HighErrorRate", "KubePodNotReady"],
                   ["HighLatency", "HighErrorRate", "Http5xxRateHigh"], "k8s"),
    "auth": (["cache", "orders-db"], "auth", 3,
             ["AuthTokenErrors", "KubePodCrashLooping"],
             ["HighLatency", "AuthTokenErrors"], "k8s"),
    "notification": (["mq"], "ntf", 2,
                     ["NotificationBacklog", "KubePodCrashLooping"],
                     ["NotificationBacklog"], "k8s"),
    "orders-db": ([], "pgdb", 2,
                  ["PostgresConnectionsExhausted", "PostgresDown", "PostgresSlowQueries", "PostgresDeadlocks"],
                  ["PostgresReplicationLag"], "db"),
    "orders-db-replica": (["orders-db"], "pgrep", 2,
                          ["PostgresReplicationLag"],
                          ["PostgresReplicationLag"], "db"),
    "cache": ([], "redis", 3,
              ["RedisDown", "RedisMemoryHigh", "RedisLatencyHigh"],
              ["RedisLatencyHigh"], "db"),
    "mq": ([], "kafka", 3,
           ["KafkaBrokerDown", "KafkaUnderReplicatedPartitions", "KafkaConsumerLagHigh"],
           ["KafkaConsumerLagHigh"], "db"),
}
OWNERS = {
    "trading-gateway": "trading-ops", "order-router": "trading-ops", "matching-engine": "trading-core",
    "risk-engine": "risk-tech", "position-service": "risk-tech", "market-data": "md-team",
    "md-feed-handler": "md-team", "exchange-link": "network", "clearing": "post-trade",
    "settlement": "post-trade", "bank-gateway": "post-trade", "reporting": "post-trade",
    "web-portal": "channels", "mobile-api": "channels", "auth": "platform", "notification": "platform",
    "orders-db": "dba", "orders-db-replica": "dba", "cache": "platform", "mq": "platform",
}
# Shared infrastructure fails less often than applications, but with a wider blast radius.
ROOT_WEIGHT = {
    "orders-db": 1, "cache": 1, "mq": 1, "md-feed-handler": 1.5, "exchange-link": 0.7, "market-data": 1.5,
    "matching-engine": 1.5, "order-router": 1.5, "risk-engine": 1.5, "trading-gateway": 1.5,
    "auth": 1, "position-service": 1, "clearing": 1, "settlement": 1, "bank-gateway": 1, "reporting": 1,
    "web-portal": 1.5, "mobile-api": 1.5, "notification": 1, "orders-db-replica": 0.5,
}
SUMMARY = {
    "HighLatency": "p99 latency {v}ms above 250ms",
    "HighErrorRate": "error rate {v}% above 2%",
    "Http5xxRateHigh": "HTTP 5xx rate {v}%",
    "KubePodCrashLooping": "pod is restarting {v} times / 10 minutes",
    "KubePodNotReady": "pod has been not ready for more than 5 minutes",
    "NodeDiskPressure": "node disk usage {v}%",
    "NodeMemoryPressure": "node memory usage {v}%",
    "NodeDown": "node exporter unreachable",
    "NodeHighCPU": "CPU usage {v}% for 5m",
}


def fnv_fingerprint(labels):
    h = 0xcbf29ce484222325
    for k in sorted(labels):
        for b in k.encode() + b"\xff" + labels[k].encode() + b"\xff":
            h ^= b
            h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def iso(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def dependents(svc):
    return sorted(s for s, v in ESTATE.items() if svc in v[0])


def downstream(root, max_hops=3):
    out, seen, frontier = [], {root}, [root]
    for hop in range(1, max_hops + 1):
        nxt = []
        for s in frontier:
            for d in dependents(s):
                if d not in seen:
                    seen.add(d)
                    out.append((d, hop))
                    nxt.append(d)
        frontier = nxt
    return out


def hosts_of(svc):
    _, prefix, n, _, _, kind = ESTATE[svc]
    return [f"{prefix}-{i:02d}" for i in range(1, n + 1)]


def node_of(host):
    # pods run on shared k8s nodes; vms are their own node
    return "k8s-node-%02d" % (int(fnv_fingerprint({"h": host})[:4], 16) % 12 + 1)


def trading_weight(t):
    local = t.astimezone(CST)
    m = local.hour * 60 + local.minute
    if 8 * 60 + 55 <= m < 11 * 60 + 30 or 13 * 60 <= m < 15 * 60 + 15 or m >= 20 * 60 + 55 or m < 2 * 60 + 30:
        return 3.0
    if 15 * 60 + 15 <= m < 20 * 60:
        return 1.5  # post-trade batch window
    return 0.6


class Gen:
    def __init__(self, seed, incidents, noise_sources):
        self.r = random.Random(seed)
        self.episodes = []  # dicts: labels, annotations, start, end, incident, kind
        self.n_incidents = incidents
        self.n_noise = noise_sources
        self.minutes = [DAY0 + timedelta(minutes=i) for i in range(24 * 60)]
        self.weights = [trading_weight(t) for t in self.minutes]
        self.cum = []
        acc = 0.0
        for w in self.weights:
            acc += w
            self.cum.append(acc)

    def when(self):
        x = self.r.random() * self.cum[-1]
        i = bisect.bisect_left(self.cum, x)
        return self.minutes[i] + timedelta(seconds=self.r.uniform(0, 60))

    def labels(self, svc, alertname, host, severity, extra=None):
        kind = ESTATE[svc][5]
        l = {"alertname": alertname, "service": svc, "severity": severity, "env": "prod",
             "team": OWNERS[svc], "cluster": "sh-prod"}
        if kind == "k8s":
            l["namespace"] = "trading" if svc in ("trading-gateway", "order-router", "risk-engine", "position-service") else "apps"
            l["pod"] = f"{svc}-{fnv_fingerprint({'p': host})[:9]}-{fnv_fingerprint({'q': host})[:5]}"
            l["node"] = node_of(host)
            l["instance"] = f"{l['pod']}:8080"
            l["job"] = svc
        else:
            l["instance"] = f"{host}:9100"
            l["job"] = "node" if alertname.startswith("Node") else svc
        if extra:
            l.update(extra)
        return l

    def annotations(self, alertname, svc, host, cause=None):
        tmpl = SUMMARY.get(alertname, "{a} on {s}")
        v = self.r.randint(3, 99)
        a = {"summary": tmpl.format(v=v, a=alertname, s=svc), "runbook_url": f"https://wiki/runbooks/{alertname}"}
        if cause:
            a["description"] = f"{alertname} on {host}; upstream {cause} is degraded"
        else:
            a["description"] = f"{alertname} on {host}"
        return a

    def add(self, labels, annotations, start, end, incident, kind):
        self.episodes.append(dict(labels=labels, annotations=annotations, start=start, end=end,
                                  incident=incident, kind=kind))

    def add_flapping(self, labels, annotations, start, end, incident, kind):
        t = start
        while t < end:
            on = timedelta(seconds=self.r.uniform(60, 200))
            self.add(labels, annotations, t, min(t + on, end), incident, kind)
            t = t + on + timedelta(seconds=self.r.uniform(50, 150))

    # ---------------------------------------------------------------- incidents
    def incident(self, iid, start, root=None, big=False):
        r = self.r
        services = list(ROOT_WEIGHT)
        root = root or r.choices(services, weights=[ROOT_WEIGHT[s] for s in services])[0]
        duration = timedelta(minutes=min(240, max(6, r.lognormvariate(math.log(25), 0.6))))
        end = start + duration
        sev = "critical" if r.random() < 0.75 else "warning"
        hosts = hosts_of(root)
        host_level = r.random() < 0.12
        if host_level:
            # a sick machine: node alert is the root, the service on it follows
            host = r.choice(hosts)
            node = node_of(host) if ESTATE[root][5] == "k8s" else host
            name = r.choice(["NodeDiskPressure", "NodeMemoryPressure", "NodeDown"])
            l = {"alertname": name, "severity": "critical" if name == "NodeDown" else "warning", "env": "prod",
                 "cluster": "sh-prod", "instance": f"{node}:9100", "node": node, "job": "node", "team": "infra"}
            self.add(l, self.annotations(name, root, node), start, end, iid, "root")
            sym_start = start + timedelta(seconds=r.uniform(30, 120))
            name2 = r.choice(["KubePodCrashLooping", "HighErrorRate"]) if ESTATE[root][5] == "k8s" else "HighErrorRate"
            self.add(self.labels(root, name2, host, "warning"), self.annotations(name2, root, host), sym_start, end, iid, "symptom")
            if r.random() < 0.5:
                return
        else:
            n_inst = 1 if r.random() < 0.6 else r.randint(2, len(hosts))
            name = r.choice(ESTATE[root][3])
            for h in r.sample(hosts, n_inst):
                s = start + timedelta(seconds=r.uniform(0, 40))
                self.add(self.labels(root, name, h, sev), self.annotations(name, root, h), s, end, iid, "root")
        small = r.random() < 0.22 and not big
        if small:
            return
        hop_p = {1: 0.7, 2: 0.3, 3: 0.1}
        if big:
            hop_p = {1: 1.0, 2: 0.8, 3: 0.5}
        for svc, hop in downstream(root):
            if r.random() >= hop_p[hop]:
                continue
            names = ESTATE[svc][4]
            for name in r.sample(names, 1 if r.random() < 0.7 else min(2, len(names))):
                onset = start + timedelta(seconds=hop * r.uniform(20, 150) + r.uniform(0, 60))
                s_end = end + timedelta(seconds=r.uniform(-180, 300))
                if s_end < onset + timedelta(minutes=2):
                    s_end = onset + timedelta(minutes=2)
                ssev = "critical" if r.random() < 0.4 else "warning"
                hs = hosts_of(svc)
                for h in r.sample(hs, 1 if r.random() < 0.6 else min(len(hs), r.randint(2, 3))):
                    l = self.labels(svc, name, h, ssev)
                    a = self.annotations(name, svc, h, cause=root if r.random() < 0.3 else None)
                    if r.random() < 0.1:
                        self.add_flapping(l, a, onset, s_end, iid, "flap")
                    else:
                        self.add(l, a, onset + timedelta(seconds=r.uniform(0, 30)), s_end, iid, "symptom")

    def storm(self, iid, start):
        """Market open: the exchange feed gaps; every feed-handler and market-data pod alerts."""
        r = self.r
        end = start + timedelta(minutes=r.uniform(12, 20))
        for i in range(1, 41):
            host = f"feed-{i:02d}"
            l = self.labels("md-feed-handler", "MarketDataGap", host, "critical")
            self.add(l, self.annotations("MarketDataGap", "md-feed-handler", host), start + timedelta(seconds=r.uniform(0, 50)), end, iid, "root")
        for svc, hop in downstream("md-feed-handler", 2):
            for h in hosts_of(svc):
                name = ESTATE[svc][4][0]
                self.add(self.labels(svc, name, h, "critical" if hop == 1 else "warning"), self.annotations(name, svc, h),
                         start + timedelta(seconds=hop * r.uniform(30, 90)), end + timedelta(seconds=r.uniform(0, 120)), iid, "symptom")
        # everybody's CPU spikes at the open: noise, not this incident
        for i in range(1, 31):
            host = f"k8s-node-{i % 12 + 1:02d}" if i <= 12 else f"app-{i:02d}"
            l = {"alertname": "NodeHighCPU", "severity": "warning", "env": "prod", "cluster": "sh-prod",
                 "instance": f"{host}:9100", "node": host, "job": "node", "team": "infra"}
            s = start + timedelta(seconds=r.uniform(-60, 120))
            self.add(l, self.annotations("NodeHighCPU", "node", host), s, s + timedelta(minutes=r.uniform(2, 9)), None, "noise")

    # ---------------------------------------------------------------- noise
    def noise(self):
        r = self.r
        noise_names = ["NodeHighCPU", "JVMGCPauseLong", "PostgresSlowQueries", "RedisEvictions", "KafkaConsumerLagHigh",
                       "HighLatency", "HighErrorRate", "NodeDiskPressure", "NTPClockSkew", "CertificateExpiringSoon",
                       "KubePodNotReady", "ContainerCPUThrottling", "DiskIOHigh", "TCPRetransmitsHigh"]
        services = sorted(ESTATE)
        n = self.n_noise
        kinds = ["blip"] * int(n * 0.5) + ["flapper"] * int(n * 0.25) + ["chronic"] * int(n * 0.12)
        kinds += ["batch"] * (n - len(kinds))
        for k, kind in enumerate(kinds):
            svc = r.choice(services)
            host = r.choice(hosts_of(svc))
            name = r.choice(noise_names)
            sev = r.choices(["warning", "info", "critical"], weights=[70, 15, 15])[0]
            l = self.labels(svc, name, host, sev, {"noise_source": str(k)} if False else None)
            if name.startswith("Node") or name in ("NTPClockSkew", "DiskIOHigh", "TCPRetransmitsHigh"):
                node = node_of(host) if ESTATE[svc][5] == "k8s" else host
                l = {"alertname": name, "severity": sev, "env": "prod", "cluster": "sh-prod", "instance": f"{node}:9100",
                     "node": node, "job": "node", "team": "infra"}
            a = self.annotations(name, svc, host)
            if kind == "blip":
                for _ in range(r.randint(3, 12)):
                    s = self.when()
                    self.add(l, a, s, s + timedelta(minutes=max(0.7, r.lognormvariate(math.log(3), 0.7))), None, "noise")
            elif kind == "flapper":
                for _ in range(r.randint(1, 4)):
                    s = self.when()
                    self.add_flapping(l, a, s, s + timedelta(minutes=r.uniform(10, 40)), None, "noise")
            elif kind == "chronic":
                l["severity"] = r.choice(["warning", "info"])
                s = DAY0 + timedelta(minutes=r.uniform(0, 20 * 60))
                self.add(l, a, s, s + timedelta(hours=r.uniform(2, 10)), None, "noise")
            else:
                hour = r.choice([1, 3, 16, 17, 18, 22])
                s = DAY0 + timedelta(hours=hour, minutes=r.uniform(0, 30))
                self.add(l, a, s, s + timedelta(minutes=r.uniform(5, 25)), None, "noise")

    def build(self):
        # market-open storm at 09:00 local, and incidents
        self.storm("INC-0000", DAY0 + timedelta(hours=9, seconds=5))
        for i in range(1, self.n_incidents):
            self.incident(f"INC-{i:04d}", self.when())
        self.noise()
        end = DAY0 + timedelta(days=1)
        self.episodes = [e for e in self.episodes if e["start"] < end]
        for e in self.episodes:
            e["end"] = min(e["end"], end + timedelta(hours=1))


def send(episodes, repeat_min, group_wait=30, group_interval=240):
    """Simulates the sending Alertmanager; yields (sent_at, alerts list, groupLabels)."""
    # same labels = same alert: episodes of one fingerprint must not overlap
    by_fp = {}
    for e in sorted(episodes, key=lambda e: e["start"]):
        fp = fnv_fingerprint(e["labels"])
        e["fp"] = fp
        prev = by_fp.get(fp)
        if prev is not None and prev["end"] >= e["start"]:
            prev["end"] = max(prev["end"], e["end"])  # merge overlapping episodes
            e["merged_into"] = prev
            continue
        by_fp[fp] = e
    eps = [e for e in episodes if "merged_into" not in e]
    groups = {}
    for e in eps:
        gk = (e["labels"].get("alertname", ""), e["labels"].get("service", ""))
        groups.setdefault(gk, []).append(e)
    heap = []
    for gk, lst in groups.items():
        lst.sort(key=lambda e: e["start"])
        heapq.heappush(heap, (lst[0]["start"], 0, gk))
    bodies = []
    state = {gk: dict(idx=0, active=[], flushed=False, last=None, notified=set(), next=None) for gk in groups}
    seq = 0
    while heap:
        t, kind, gk = heapq.heappop(heap)
        st, lst = state[gk], groups[gk]
        if kind == 0:
            # new alerts start; activate the group
            while st["idx"] < len(lst) and lst[st["idx"]]["start"] <= t:
                st["active"].append(lst[st["idx"]])
                st["idx"] += 1
            if st["next"] is None:
                st["next"] = t + timedelta(seconds=group_wait)
                heapq.heappush(heap, (st["next"], 1, gk))
            if st["idx"] < len(lst):
                heapq.heappush(heap, (lst[st["idx"]]["start"], 0, gk))
            continue
        if st["next"] != t:
            continue
        firing = [e for e in st["active"] if e["end"] > t]
        resolved = [e for e in st["active"] if e["end"] <= t]
        changed = any(id(e) not in st["notified"] for e in firing) or bool(resolved)
        repeat = st["last"] is not None and t - st["last"] >= timedelta(minutes=repeat_min)
        # Alertmanager's dedup stage: with something firing, send on a change or a repeat;
        # with nothing firing, send only to resolve what was notified before.
        should = (changed or repeat) if firing else any(id(e) in st["notified"] for e in resolved)
        if should:
            seq += 1
            bodies.append((t, seq, gk, firing, resolved))
            st["last"] = t
            for e in firing:
                st["notified"].add(id(e))
        st["active"] = list(firing)  # bodies keep their own lists
        for e in resolved:
            st["notified"].discard(id(e))
        if st["active"] or st["idx"] < len(lst):
            if not st["active"]:
                # idle: wait for the next alert
                st["next"] = None
                st["last"] = None
                continue
            st["next"] = t + timedelta(seconds=group_interval)
            heapq.heappush(heap, (st["next"], 1, gk))
        else:
            st["next"] = None
    bodies.sort(key=lambda b: (b[0], b[1]))
    return bodies, eps


def alert_json(e, status, include_fp=True):
    a = {"status": status, "labels": e["labels"], "annotations": e["annotations"], "startsAt": iso(e["start"]),
         "endsAt": iso(e["end"]) if status == "resolved" else "0001-01-01T00:00:00Z",
         "generatorURL": "http://prometheus:9090/graph?g0.expr=" + e["labels"].get("alertname", "")}
    if include_fp:
        a["fingerprint"] = e["fp"]
    return a


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="bench/alerts/out/gen")
    ap.add_argument("--incidents", type=int, default=300)
    ap.add_argument("--noise-sources", type=int, default=120)
    ap.add_argument("--repeat", type=float, default=4, help="sender repeat_interval, minutes")
    args = ap.parse_args()
    g = Gen(args.seed, args.incidents, args.noise_sources)
    g.build()
    bodies, eps = send(g.episodes, args.repeat)
    os.makedirs(args.out, exist_ok=True)
    seen = {}
    raw = 0
    with open(os.path.join(args.out, "STREAM.jsonl"), "w") as f:
        for t, _, gk, firing, resolved in bodies:
            alerts = [alert_json(e, "firing") for e in firing] + [alert_json(e, "resolved") for e in resolved]
            raw += len(alerts)
            for e in firing + resolved:
                seen.setdefault(e["fp"] + "@" + iso(e["start"]), e)
            common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
            body = {"version": "4", "groupKey": "{}:{alertname=%s, service=%s}" % gk, "truncatedAlerts": 0,
                    "status": "firing" if firing else "resolved", "receiver": "warroom",
                    "groupLabels": {"alertname": gk[0], "service": gk[1]}, "commonLabels": common,
                    "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": alerts,
                    "x_sentAt": iso(t)}
            f.write(json.dumps(body, separators=(",", ":")) + "\n")
    with open(os.path.join(args.out, "TRUTH.jsonl"), "w") as f:
        for key, e in seen.items():
            f.write(json.dumps({"alert_key": key, "incident": e["incident"], "kind": e["kind"]}) + "\n")
    write_estate(os.path.join(args.out, "estate.toml"))
    incidents = len({e["incident"] for e in seen.values() if e["incident"]})
    amb = ambiguity(list(seen.values()))
    print(f"gen: {len(bodies)} bodies, {raw} raw alerts, {len(seen)} episodes, {incidents} incidents, "
          f"{amb:.0%} of incident alerts ambiguous -> {args.out}")


def ambiguity(eps):
    """Share of incident episodes that another incident could explain as well: its root
    started on the same service or one it depends on (within 3 hops) in the 10 minutes
    before. No pipeline using time and topology alone can place those reliably."""
    roots = {}
    for e in eps:
        if e["incident"] and e["kind"] == "root":
            r = roots.get(e["incident"])
            if r is None or e["start"] < r[1]:
                roots[e["incident"]] = (e["labels"].get("service"), e["start"])
    ups = {s: {s} | {u for u in ESTATE if s in [d for d, _ in downstream(u)]} for s in ESTATE}
    n = amb = 0
    for e in eps:
        s = e["labels"].get("service")
        if not e["incident"] or s not in ups:
            continue
        n += 1
        if any(i != e["incident"] and rs in ups[s] and timedelta(0) <= e["start"] - rt <= timedelta(minutes=10)
               for i, (rs, rt) in roots.items()):
            amb += 1
    return amb / n if n else 0.0


def write_estate(path):
    with open(path, "w") as f:
        f.write("# Service catalog of the generated estate and a typical [alerts] section.\n")
        f.write("[general]\ntimezone = \"Asia/Shanghai\"\n\n")
        for s in sorted(ESTATE):
            deps, _, _, _, _, _ = ESTATE[s]
            f.write("[[services]]\n")
            f.write(f"name = \"{s}\"\nowner = \"{OWNERS[s]}\"\n")
            f.write("depends_on = [%s]\n" % ", ".join(f'"{d}"' for d in deps))
            f.write("hosts = [%s]\n\n" % ", ".join(f'"{h}"' for h in hosts_of(s)))
        f.write("[[alerts.inhibit_rules]]\n")
        f.write("source_matchers = ['alertname=\"NodeDown\"']\n")
        f.write("target_matchers = ['alertname!=\"NodeDown\"']\n")
        f.write("equal = [\"node\"]\n\n")
        f.write("[[alerts.inhibit_rules]]\n")
        f.write("source_matchers = ['severity=\"critical\"']\n")
        f.write("target_matchers = ['severity=\"warning\"']\n")
        f.write("equal = [\"alertname\", \"service\", \"instance\"]\n")


if __name__ == "__main__":
    main()
