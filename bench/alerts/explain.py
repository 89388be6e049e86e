#!/usr/bin/env python3
"""Explains a replay's score: where recall, purity and compression are lost.

Usage: python3 bench/alerts/explain.py --truth TRUTH.jsonl --groups GROUPS.jsonl [--stream STREAM.jsonl] [-v]

Uses the same definitions as score.py (it imports it) and breaks the losses down:
- incidents that own no group, and why: every episode suppressed, or outvoted in the
  groups they landed in (by which incident or by noise);
- impurity: grouped episodes that are not of their group's owner, by truth kind;
- groups beyond one per incident: noise-owned groups and splits, by truth kind;
- the best compression any grouping could reach (one group per incident) for reference.
With a stream, -v also prints the labels of a few offending episodes.
"""
import argparse
import json
import os
import sys
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import score  # noqa: E402


def load_truth(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out[d["alert_key"]] = (d.get("incident"), d.get("kind"))
    return out


def load_labels(stream):
    out = {}
    with open(stream) as f:
        for line in f:
            if not line.strip():
                continue
            for a in json.loads(line).get("alerts", []):
                lab = a.get("labels", {})
                fp = a.get("fingerprint") or score_fp(lab)
                out.setdefault(f"{fp}@{a.get('startsAt')}", (lab, a.get("startsAt"), a.get("endsAt"), a.get("status")))
                if a.get("status") == "resolved":
                    k = f"{fp}@{a.get('startsAt')}"
                    out[k] = (lab, a.get("startsAt"), a.get("endsAt"), "resolved")
    return out


def score_fp(labels):
    h = 0xcbf29ce484222325
    for k in sorted(labels):
        for b in k.encode() + b"\xff" + labels[k].encode() + b"\xff":
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def short(lab):
    keys = ["alertname", "service", "app", "severity", "priority", "instance", "pod", "node"]
    return " ".join(f"{k}={lab[k]}" for k in keys if k in lab)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--truth", required=True)
    ap.add_argument("--groups", required=True)
    ap.add_argument("--stream")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    truth = load_truth(a.truth)
    groups = score.load(a.groups, "group_id")
    raw = score.raw_count(a.stream) if a.stream else len(truth)
    s = score.score({k: v[0] for k, v in truth.items()}, groups, raw)
    labels = load_labels(a.stream) if (a.stream and a.v) else {}

    members = defaultdict(Counter)
    kinds = defaultdict(Counter)
    by_inc = defaultdict(list)
    for key, (inc, kind) in truth.items():
        cls = inc if inc is not None else "noise"
        by_inc[cls].append(key)
        g = groups.get(key)
        if g is not None:
            members[g][cls] += 1
            kinds[g][kind] += 1
    owner = {g: sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0] for g, c in members.items()}
    owned = Counter(o for o in owner.values())
    print(f"compression {s['compression']:.1f}x recall {s['recall']:.3f} purity {s['purity']:.3f} "
          f"groups {s['groups']} incidents {s['incidents']}")
    print(f"ceiling: one group per incident = {raw / max(1, s['incidents']):.1f}x; "
          f"40x needs <= {raw // 40} groups, recall 0.97 needs >= {int(0.97 * s['incidents'] + 0.999)} owned")

    lost = Counter()
    lost_examples = defaultdict(list)
    for inc, keys in by_inc.items():
        if inc == "noise" or owned.get(inc):
            continue
        gs = Counter(groups.get(k) for k in keys)
        if set(gs) == {None}:
            why = "all suppressed"
        else:
            outv = [owner[g] for g in gs if g is not None]
            why = "outvoted by noise" if all(o == "noise" for o in outv) else "outvoted by an incident"
        lost[why] += 1
        lost_examples[why].append((inc, len(keys), [truth[k][1] for k in keys]))
    print("\nincidents owning no group:", sum(lost.values()))
    for why, n in lost.most_common():
        ex = ", ".join(f"{i}({n_}:{','.join(sorted(set(k)))})" for i, n_, k in lost_examples[why][:8])
        print(f"  {why:24s} {n:4d}  e.g. {ex}")

    impure = Counter()
    for key, (inc, kind) in truth.items():
        g = groups.get(key)
        cls = inc if inc is not None else "noise"
        if g is not None and owner[g] != cls:
            impure[(kind, "in noise group" if owner[g] == "noise" else "in incident group")] += 1
    print("\nimpure episodes:", sum(impure.values()), "of", sum(sum(c.values()) for c in members.values()))
    for (kind, where), n in impure.most_common():
        print(f"  {kind:8s} {where:20s} {n:5d}")

    print("\nextra groups: noise-owned", owned.get("noise", 0), "splits", s["split_groups"])
    sizes = Counter()
    for g, o in owner.items():
        if o == "noise":
            sizes[min(sum(members[g].values()), 5)] += 1
    print("  noise group sizes (5=5+):", dict(sorted(sizes.items())))
    sup = Counter()
    for key, (inc, kind) in truth.items():
        if groups.get(key) is None:
            sup[kind] += 1
    print("suppressed by kind:", dict(sup))

    if a.v and labels:
        print("\nexamples of incidents owning no group:")
        for why in lost_examples:
            for inc, _, _ in lost_examples[why][:4]:
                print(f" [{why}] {inc}")
                for k in sorted(by_inc[inc], key=lambda k: labels.get(k, ({}, ""))[1] or "")[:8]:
                    lab, st, en, _ = labels.get(k, ({}, "?", "?", "?"))
                    g = groups.get(k)
                    print(f"    {truth[k][1]:7s} {st} -> {en[:19] if en else ''} group={g}"
                          f"({owner.get(g)}) {short(lab)}")


if __name__ == "__main__":
    main()
