#!/usr/bin/env python3
"""Flowgate/raw-sqlx throughput ratios from the last `cargo bench --bench operations` run.

Reads criterion's target/criterion/**/new/estimates.json (and benchmark.json beside it, for the
group and function names), pairs the `flowgate` and `raw_sqlx` functions of each `<op>/<backend>`
group and prints raw_time / flowgate_time: 1.0 means Flowgate is as fast as raw sqlx, 0.8 means it
does 80% of raw sqlx's throughput.

Usage: python3 benches/ratios.py [--dir target/criterion] [--stat median|mean]

The median is the default: on a shared machine a burst of load during one side's samples moves
the mean much more than the median.
"""

import argparse
import json
import sys
from pathlib import Path

# The goals: single-row operations >= 0.9 of raw sqlx, bulk insert >= 0.8.
GOALS = {"create": 0.9, "read": 0.9, "list": 0.9, "bulk_create": 0.8}
OP_ORDER = ["create", "read", "list", "bulk_create"]
BACKEND_ORDER = ["sqlite", "postgres", "mysql"]


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"


def load(root, stat):
    """{(op, backend): {function: nanoseconds}}"""
    found = {}
    for est in sorted(root.glob("**/new/estimates.json")):
        meta_path = est.with_name("benchmark.json")
        if not meta_path.exists():
            continue
        meta = json.loads(meta_path.read_text())
        group, function = meta.get("group_id", ""), meta.get("function_id")
        if "/" not in group or function not in ("flowgate", "raw_sqlx"):
            continue
        op, backend = group.split("/", 1)
        found.setdefault((op, backend), {})[function] = json.loads(est.read_text())[stat][
            "point_estimate"
        ]
    return found


def sort_key(key):
    op, backend = key
    rank = lambda xs, x: xs.index(x) if x in xs else len(xs)
    return (rank(BACKEND_ORDER, backend), backend, rank(OP_ORDER, op), op)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="criterion's output folder")
    ap.add_argument("--stat", default="median", choices=["median", "mean"])
    args = ap.parse_args()
    root = Path(args.dir) if args.dir else Path(__file__).resolve().parent.parent / "target" / "criterion"
    found = load(root, args.stat)
    if not found:
        print(f"no criterion results under {root}; run `cargo bench --bench operations` first", file=sys.stderr)
        return 1
    header = ("backend", "op", "flowgate", "raw sqlx", "ratio", "goal")
    rows = []
    for key in sorted(found, key=sort_key):
        op, backend = key
        times = found[key]
        if "flowgate" not in times or "raw_sqlx" not in times:
            continue
        fg, raw = times["flowgate"], times["raw_sqlx"]
        ratio = raw / fg
        goal = GOALS.get(op)
        verdict = "" if goal is None else f">= {goal:.1f} {'ok' if ratio >= goal else 'MISSED'}"
        rows.append((backend, op, fmt_time(fg), fmt_time(raw), f"{ratio:.2f}", verdict))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    print(f"Flowgate / raw sqlx throughput (raw_time / flowgate_time, {args.stat} times)")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
