#!/usr/bin/env python3
"""A second, deliberately different alert stream generator (to catch overfitting).

Usage: python3 bench/alerts/gen2.py --seed 11 --out DIR

Same outputs as gen.py (STREAM.jsonl, TRUTH.jsonl, estate.toml) from a different world:
- a futures broker (CTP front, OMS, EMS, RMS, quote gateway, margin, MySQL, Redis Cluster,
  RocketMQ, ZooKeeper, ...), labelled Kubernetes-style: `app`, `component`, `pod`,
  `namespace`, `node`, no `service` label, severities as `priority` P1..P4;
- alert names in several conventions (`ERR_RATE_HIGH`, `OrderLatencyP99High`,
  `mysql_slave_delay`), half of the annotations in Chinese;
- other timing: detection lag so that symptoms sometimes arrive before their root,
  hop delays of 1-5 minutes, incidents of 5-120 minutes, bursts at the 08:55 / 20:55
  pre-open auctions;
- noise of its own kinds: ping-loss heartbeats, cron jobs, a noisy canary, long warnings;
- the sender groups by `app` only (group_wait 10s, group_interval 1m, repeat 8m), and
  sends no `fingerprint` (the pipeline computes Alertmanager's), times with +08:00.

The estate.toml identifies services through `app` matchers, not a `service` label.
Python 3.11 standard library only. Deterministic for a seed.
"""
import argparse
import json
import math
import os
import random
from datetime import datetime, timedelta, timezone

TZ = timezone(timedelta(hours=8))
START = datetime(2026, 5, 11, 0, 0, tzinfo=TZ)

# app -> (upstream apps, replicas, component, root alerts, symptom alerts)
APPS = {
    "ctp-front": (["oms", "quote-gw", "auth-center"], 3, "gateway",
                  ["CtpFrontDisconnect", "FRONT_SESSION_FULL"], ["RT_HIGH", "CtpFrontDisconnect"]),
    "app-backend": (["ctp-front", "quote-gw", "auth-center"], 5, "api",
                    ["PodRestartTooMany", "ERR_RATE_HIGH"], ["ERR_RATE_HIGH", "RT_HIGH"]),
    "web-console": (["app-backend"], 2, "frontend", ["ERR_RATE_HIGH"], ["RT_HIGH", "ERR_RATE_HIGH"]),
    "oms": (["rms", "ems", "mysql-core", "rocketmq"], 4, "trading",
            ["OrderLatencyP99High", "oms_queue_blocked"], ["OrderLatencyP99High", "ORDER_REJECT_SPIKE"]),
    "ems": (["exchange-line", "rocketmq"], 3, "trading", ["EmsRouteFailed", "PodRestartTooMany"], ["EmsRouteFailed", "RT_HIGH"]),
    "rms": (["margin-calc", "redis-cluster", "mysql-core"], 3, "risk",
            ["RiskCheckSlow", "jvm_full_gc_frequent"], ["RiskCheckSlow", "ERR_RATE_HIGH"]),
    "margin-calc": (["mysql-core", "redis-cluster"], 2, "risk", ["MarginCalcTimeout"], ["MarginCalcTimeout"]),
    "quote-gw": (["mds"], 4, "market", ["QuoteDelayHigh", "PodRestartTooMany"], ["QuoteDelayHigh"]),
    "mds": (["exchange-line", "redis-cluster"], 4, "market", ["MdsTickGap", "mds_snapshot_stale"], ["MdsTickGap"]),
    "exchange-line": ([], 2, "network", ["LINE_DOWN", "LinkPacketLoss"], ["LinkPacketLoss"]),
    "auth-center": (["redis-cluster", "mysql-core"], 2, "platform", ["TokenVerifyErrors"], ["TokenVerifyErrors", "RT_HIGH"]),
    "clearing-svc": (["mysql-core", "rocketmq"], 2, "posttrade", ["ClearingJobFailed"], ["ClearingJobDelayed"]),
    "settle-svc": (["clearing-svc", "bank-link"], 2, "posttrade", ["SettleFileMissing"], ["SettleJobFailed"]),
    "bank-link": (["exchange-line"], 2, "posttrade", ["BankLinkTimeout"], ["BankLinkTimeout"]),
    "report-svc": (["mysql-core"], 2, "posttrade", ["ReportTimeout"], ["ReportTimeout"]),
    "mysql-core": ([], 3, "database", ["mysql_slave_delay", "MysqlConnTooMany", "MysqlDown"], ["mysql_slave_delay"]),
    "redis-cluster": ([], 6, "cache", ["RedisClusterDown", "redis_mem_high"], ["redis_latency_high"]),
    "rocketmq": (["zookeeper"], 3, "mq", ["MQAccumulation", "BrokerDown"], ["MQAccumulation"]),
    "zookeeper": ([], 3, "coordination", ["ZkSessionExpired"], ["ZkSessionExpired"]),
    "notify-svc": (["rocketmq"], 2, "platform", ["SmsSendFailed"], ["SmsSendFailed"]),
}
ZH = {
    "RT_HIGH": "接口响应时间过高: {v}ms", "ERR_RATE_HIGH": "错误率过高: {v}%", "OrderLatencyP99High": "报单延迟P99过高",
    "ORDER_REJECT_SPIKE": "废单率突增", "mysql_slave_delay": "MySQL 从库延迟 {v}s", "MysqlConnTooMany": "MySQL 连接数过多",
    "RedisClusterDown": "Redis 集群不可用", "MQAccumulation": "消息堆积 {v} 万条", "CtpFrontDisconnect": "CTP 前置断开",
    "MdsTickGap": "行情断档", "QuoteDelayHigh": "行情延迟过高", "RiskCheckSlow": "风控检查缓慢", "PodRestartTooMany": "Pod 频繁重启",
    "LINE_DOWN": "交易所专线中断", "ZkSessionExpired": "ZooKeeper 会话过期", "SettleFileMissing": "结算文件缺失",
}
PRI = {"P1": 0.45, "P2": 0.3, "P3": 0.25}


def fp(labels):
    h = 0xcbf29ce484222325
    for k in sorted(labels):
        for b in k.encode() + b"\xff" + labels[k].encode() + b"\xff":
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def ts(t):
    return t.astimezone(TZ).replace(microsecond=0).isoformat()


def consumers(app):
    return sorted(a for a, v in APPS.items() if app in v[0])


class World:
    def __init__(self, seed):
        self.r = random.Random(seed * 7919 + 3)
        self.eps = []

    def pod(self, app, i):
        h = fp({"pod": f"{app}-{i}"})
        return f"{app}-{h[:10]}-{h[10:15]}"

    def node(self, app, i):
        return "node-%d" % (int(fp({"n": f"{app}-{i}"})[:6], 16) % 20 + 1)

    def labels(self, app, name, i, pri):
        return {"alertname": name, "app": app, "component": APPS[app][2], "pod": self.pod(app, i),
                "namespace": "futures-prod", "node": self.node(app, i), "priority": pri, "prometheus": "k8s/prom-0"}

    def ann(self, name, app):
        v = self.r.randint(2, 900)
        if self.r.random() < 0.5 and name in ZH:
            return {"summary": ZH[name].format(v=v), "description": f"应用 {app} 告警 {name}"}
        return {"summary": f"{name} firing for {app}", "description": f"value={v}"}

    def add(self, labels, ann, start, end, inc, kind):
        self.eps.append(dict(labels=labels, ann=ann, start=start, end=end, inc=inc, kind=kind))

    def moment(self):
        # busier around the day and night sessions, bursts at the pre-open auctions
        while True:
            t = START + timedelta(seconds=self.r.uniform(0, 86400))
            h = t.hour + t.minute / 60
            w = 1.0
            if 8.9 <= h < 9.1 or 20.9 <= h < 21.1:
                w = 6.0
            elif 9 <= h < 11.5 or 13.5 <= h < 15 or h >= 21 or h < 2.5:
                w = 2.5
            if self.r.random() < w / 6.0:
                return t

    def incident(self, iid):
        r = self.r
        apps = sorted(APPS)
        root = r.choice(apps)
        t0 = self.moment()
        dur = timedelta(minutes=min(120, max(5, r.expovariate(1 / 28))))
        pri = r.choices(list(PRI), weights=list(PRI.values()))[0]
        name = r.choice(APPS[root][3])
        # detection lag of the root: sometimes its alert comes after the symptoms
        lag = timedelta(seconds=r.choice([0, 0, 0, 30, 90, 180]))
        for i in r.sample(range(APPS[root][1]), r.choice([1, 1, 2])):
            self.add(self.labels(root, name, i, pri), self.ann(name, root), t0 + lag, t0 + dur, iid, "root")
        if r.random() < 0.2:
            return
        frontier, seen, hop = [root], {root}, 0
        while frontier and hop < 3:
            hop += 1
            nxt = []
            for a in frontier:
                for c in consumers(a):
                    if c in seen or r.random() > (0.8, 0.5, 0.25)[hop - 1]:
                        continue
                    seen.add(c)
                    nxt.append(c)
                    sname = r.choice(APPS[c][4])
                    onset = t0 + timedelta(seconds=hop * r.uniform(60, 300) * 0.6)
                    end = t0 + dur + timedelta(seconds=r.uniform(0, 240))
                    spri = r.choice(["P2", "P3", "P3"])
                    for i in r.sample(range(APPS[c][1]), min(APPS[c][1], r.choice([1, 1, 2, 3]))):
                        if r.random() < 0.08:
                            t = onset
                            while t < end:
                                up = timedelta(seconds=r.uniform(40, 150))
                                self.add(self.labels(c, sname, i, spri), self.ann(sname, c), t, min(end, t + up), iid, "flap")
                                t += up + timedelta(seconds=r.uniform(40, 120))
                        else:
                            self.add(self.labels(c, sname, i, spri), self.ann(sname, c), onset + timedelta(seconds=r.uniform(0, 45)), end, iid, "symptom")
            frontier = nxt

    def noise(self, n):
        r = self.r
        apps = sorted(APPS)
        for k in range(n):
            kind = r.choices(["ping", "cron", "canary", "long", "blip"], weights=[25, 15, 10, 15, 35])[0]
            app = r.choice(apps)
            i = r.randrange(APPS[app][1])
            if kind == "ping":
                l = {"alertname": "PING_LOSS", "instance": f"10.8.{k}.{i + 10}", "job": "blackbox", "priority": "P3",
                     "target": f"probe-{k}"}
                for _ in range(r.randint(4, 20)):
                    s = self.moment()
                    self.add(l, {"summary": "探测丢包"}, s, s + timedelta(seconds=r.uniform(40, 200)), None, "noise")
            elif kind == "cron":
                l = self.labels(app, "CronJobFailed", i, "P3")
                l["cronjob"] = f"{app}-cleanup-{k}"
                for h in (2, 6, 12, 18):
                    s = START + timedelta(hours=h, minutes=r.uniform(0, 5))
                    self.add(l, {"summary": "定时任务失败"}, s, s + timedelta(minutes=r.uniform(3, 15)), None, "noise")
            elif kind == "canary":
                l = self.labels(app, "CanaryCheckFailed", i, r.choice(["P2", "P3"]))
                t = self.moment()
                for _ in range(r.randint(6, 25)):
                    up = timedelta(seconds=r.uniform(30, 120))
                    self.add(l, self.ann("CanaryCheckFailed", app), t, t + up, None, "noise")
                    t += up + timedelta(seconds=r.uniform(30, 400))
            elif kind == "long":
                l = self.labels(app, r.choice(["DiskUsageHigh", "CertExpireSoon", "jvm_old_gen_high"]), i, r.choice(["P3", "P4"]))
                s = START + timedelta(minutes=r.uniform(0, 1200))
                self.add(l, {"summary": "磁盘使用率超过 80%"}, s, s + timedelta(hours=r.uniform(1, 8)), None, "noise")
            else:
                l = self.labels(app, r.choice(["RT_HIGH", "ERR_RATE_HIGH", "CpuUsageHigh", "GcPauseLong"]), i, r.choice(["P2", "P3", "P3", "P4"]))
                for _ in range(r.randint(2, 10)):
                    s = self.moment()
                    self.add(l, self.ann(l["alertname"], app), s, s + timedelta(minutes=max(0.5, r.lognormvariate(math.log(2.5), 0.8))), None, "noise")


def alertmanager(eps, wait=10, interval=60, repeat=8 * 60):
    """Sender: group by app (or job), whole-group bodies, resolved sent once, no fingerprints."""
    for e in eps:
        e["fp"] = fp(e["labels"])
    eps.sort(key=lambda e: (e["start"], e["fp"]))
    last_end = {}
    kept = []
    for e in eps:
        if last_end.get(e["fp"], START - timedelta(days=1)) >= e["start"]:
            continue  # an overlapping duplicate of a firing alert: the sender sees one
        last_end[e["fp"]] = e["end"]
        kept.append(e)
    by_group = {}
    for e in kept:
        by_group.setdefault(e["labels"].get("app") or e["labels"].get("job"), []).append(e)
    out = []
    end_of_day = START + timedelta(days=1, hours=1)
    for g, lst in sorted(by_group.items()):
        i, active, notified, t, last = 0, [], set(), None, None
        while i < len(lst) or active:
            if not active:
                t = lst[i]["start"] + timedelta(seconds=wait)
                last = None
            while i < len(lst) and lst[i]["start"] <= t:
                active.append(lst[i])
                i += 1
            firing = [e for e in active if e["end"] > t]
            resolved = [e for e in active if e["end"] <= t]
            new = [e for e in firing if id(e) not in notified]
            if firing:
                send = bool(new) or bool(resolved) or (last is not None and (t - last).total_seconds() >= repeat)
            else:
                send = any(id(e) in notified for e in resolved)
            if send:
                out.append((t, g, firing, resolved))
                last = t
                notified.update(id(e) for e in firing)
            active = list(firing)  # bodies keep their own lists
            t = t + timedelta(seconds=interval)
            if t > end_of_day:
                break
    out.sort(key=lambda x: (x[0], x[1]))
    return out, kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default="bench/alerts/out/gen2")
    ap.add_argument("--incidents", type=int, default=300)
    ap.add_argument("--noise-sources", type=int, default=120)
    args = ap.parse_args()
    w = World(args.seed)
    for k in range(args.incidents):
        w.incident(f"F{k:03d}")
    w.noise(args.noise_sources)
    bodies, _ = alertmanager(w.eps)
    os.makedirs(args.out, exist_ok=True)
    truth, raw = {}, 0
    with open(os.path.join(args.out, "STREAM.jsonl"), "w") as f:
        for t, g, firing, resolved in bodies:
            alerts = []
            for e, st in [(e, "firing") for e in firing] + [(e, "resolved") for e in resolved]:
                alerts.append({"labels": e["labels"], "annotations": e["ann"], "startsAt": ts(e["start"]),
                               "endsAt": ts(e["end"]) if st == "resolved" else "0001-01-01T00:00:00Z", "status": st,
                               "generatorURL": ""})
                truth.setdefault(f"{e['fp']}@{ts(e['start'])}", (e["inc"], e["kind"]))
            raw += len(alerts)
            f.write(json.dumps({"receiver": "ops-bot", "status": "firing" if firing else "resolved", "alerts": alerts,
                                "groupLabels": {"app": g}, "commonLabels": {}, "commonAnnotations": {},
                                "externalURL": "http://am.futures.local", "version": "4",
                                "groupKey": f"{{}}/{{}}:{{app=\"{g}\"}}", "x_sentAt": ts(t)}, ensure_ascii=False) + "\n")
    with open(os.path.join(args.out, "TRUTH.jsonl"), "w") as f:
        for k, (inc, kind) in truth.items():
            f.write(json.dumps({"alert_key": k, "incident": inc, "kind": kind}) + "\n")
    with open(os.path.join(args.out, "estate.toml"), "w") as f:
        f.write("[general]\ntimezone = \"Asia/Shanghai\"\n\n")
        for a in sorted(APPS):
            f.write(f"[[services]]\nname = \"{a}\"\ndepends_on = [{', '.join(repr(d).replace(chr(39), chr(34)) for d in APPS[a][0])}]\n")
            f.write(f"matchers = [{{ key = \"app\", value = \"{a}\" }}]\n\n")
    incs = len({v[0] for v in truth.values() if v[0]})
    amb = ambiguity([e for e in w.eps if f"{e['fp']}@{ts(e['start'])}" in truth])
    print(f"gen2: {len(bodies)} bodies, {raw} raw alerts, {len(truth)} episodes, {incs} incidents, "
          f"{amb:.0%} of incident alerts ambiguous -> {args.out}")


def upstream_of(app, hops=3):
    out, frontier = {app}, [app]
    for _ in range(hops):
        frontier = [d for a in frontier for d in APPS[a][0] if d not in out]
        out.update(frontier)
    return out


def ambiguity(eps):
    """Share of incident episodes another incident could explain as well (its root on the
    same app or one it depends on within 3 hops, started in the 10 minutes before)."""
    roots = {}
    for e in eps:
        if e["inc"] and e["kind"] == "root" and (e["inc"] not in roots or e["start"] < roots[e["inc"]][1]):
            roots[e["inc"]] = (e["labels"].get("app"), e["start"])
    n = amb = 0
    for e in eps:
        a = e["labels"].get("app")
        if not e["inc"] or a not in APPS:
            continue
        n += 1
        ups = upstream_of(a)
        if any(i != e["inc"] and ra in ups and timedelta(0) <= e["start"] - rt <= timedelta(minutes=10)
               for i, (ra, rt) in roots.items()):
            amb += 1
    return amb / n if n else 0.0


if __name__ == "__main__":
    main()
