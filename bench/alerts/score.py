#!/usr/bin/env python3
"""Scores a replay (GROUPS.jsonl) against the generator's truth (TRUTH.jsonl).

Usage: python3 bench/alerts/score.py --truth TRUTH.jsonl --groups GROUPS.jsonl [--stream STREAM.jsonl] [--json]

Definitions (an "episode" is one alert_key = fingerprint@startsAt; truth gives each
episode an incident id, or null for noise; the replay gives it a group id, or null when
the pipeline suppressed it):

- raw alerts   : alert objects in STREAM.jsonl, re-sends included (what a pager without
                 the pipeline would have shown); the number of truth episodes without --stream.
- groups       : distinct non-null group ids (the incidents the pipeline declared).
- compression  : raw alerts / groups.
- class        : an episode's truth incident id; noise episodes form one class, "noise".
- owner        : a group's majority class (ties: the smaller id).
- recall       : share of true incidents that own at least one group.
- purity       : share of grouped episodes whose class is their group's owner (standard
                 cluster purity, noise counted as a class).
- noise groups : groups owned by noise (false incidents).
- suppressed   : episodes with a null group id, split into noise and incident episodes.
- split        : groups beyond the first owned by the same incident.
"""
import argparse
import json
import sys
from collections import Counter, defaultdict


def load(path, key):
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            out[d["alert_key"]] = d.get(key)
    return out


def raw_count(stream):
    n = 0
    with open(stream) as f:
        for line in f:
            if line.strip():
                try:
                    n += len(json.loads(line).get("alerts", []))
                except (ValueError, AttributeError):
                    pass
    return n


def score(truth, groups, raw):
    members = defaultdict(Counter)
    suppressed_noise = suppressed_incident = missing = 0
    for key, inc in truth.items():
        cls = inc if inc is not None else "noise"
        if key not in groups:
            missing += 1
        g = groups.get(key)
        if g is None:
            if inc is None:
                suppressed_noise += 1
            else:
                suppressed_incident += 1
            continue
        members[g][cls] += 1
    unknown = sum(1 for k in groups if k not in truth)
    owner = {g: sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0] for g, c in members.items()}
    grouped = sum(sum(c.values()) for c in members.values())
    pure = sum(c[owner[g]] for g, c in members.items())
    incidents = {i for i in truth.values() if i is not None}
    owned = Counter(o for o in owner.values() if o != "noise")
    n_groups = len(members)
    return {
        "raw_alerts": raw,
        "episodes": len(truth),
        "incidents": len(incidents),
        "groups": n_groups,
        "compression": raw / n_groups if n_groups else 0.0,
        "episode_compression": len(truth) / n_groups if n_groups else 0.0,
        "recall": len(owned) / len(incidents) if incidents else 1.0,
        "purity": pure / grouped if grouped else 1.0,
        "noise_groups": sum(1 for o in owner.values() if o == "noise"),
        "split_groups": sum(v - 1 for v in owned.values()),
        "suppressed_noise": suppressed_noise,
        "suppressed_incident": suppressed_incident,
        "noise_episodes": sum(1 for i in truth.values() if i is None),
        "missing_in_groups": missing,
        "unknown_in_groups": unknown,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--truth", required=True)
    ap.add_argument("--groups", required=True)
    ap.add_argument("--stream")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    truth = load(a.truth, "incident")
    groups = load(a.groups, "group_id")
    raw = raw_count(a.stream) if a.stream else len(truth)
    s = score(truth, groups, raw)
    if a.json:
        print(json.dumps(s))
        return
    print(f"raw alerts        {s['raw_alerts']}")
    print(f"episodes          {s['episodes']} ({s['noise_episodes']} noise)")
    print(f"true incidents    {s['incidents']}")
    print(f"groups            {s['groups']} ({s['noise_groups']} owned by noise, {s['split_groups']} splits)")
    print(f"compression       {s['compression']:.1f}x raw, {s['episode_compression']:.1f}x episodes")
    print(f"incident recall   {s['recall']:.3f}")
    print(f"purity            {s['purity']:.3f}")
    print(f"suppressed        {s['suppressed_noise']} noise, {s['suppressed_incident']} incident episodes")
    if s["missing_in_groups"] or s["unknown_in_groups"]:
        print(f"warning: {s['missing_in_groups']} truth keys missing from groups, {s['unknown_in_groups']} unknown keys",
              file=sys.stderr)


if __name__ == "__main__":
    main()
