#!/usr/bin/env python3
"""Markdown tables from one run of the map benchmarks (criterion's saved estimates).

Usage: scripts/bench-table.py [TARGET_DIR]   (default: target)

Reads TARGET_DIR/criterion/*/.../new/{benchmark,estimates}.json as written by
`cargo bench -p uxdp-benches --bench maps --bench kernel_maps`, and prints, for each
operation, nanoseconds per operation for every map type (rows: key or value size and
fill), then the ratios the issue asks for: uxdp ÷ hashbrown (or ÷ slice) and kernel ÷ uxdp.
Kernel figures have their loop's own cost (`loop_only/...`) subtracted.
"""

import json
import pathlib
import sys
from collections import defaultdict

target = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target")
ns = {}  # (group, id) -> ns per operation
for bench in (target / "criterion").glob("**/new/benchmark.json"):
    meta = json.loads(bench.read_text())
    est = json.loads((bench.parent / "estimates.json").read_text())
    elements = (meta.get("throughput") or {}).get("Elements", 1)
    ns[(meta["group_id"], meta["function_id"])] = est["mean"]["point_estimate"] / elements


def kernel_loop(group, ident):
    """The loop-only cost to subtract from a kernel figure, per operation."""
    op, rest = group.split("/", 1)
    base = "loop_only_2t" if op.endswith("_2t") else "loop_only"
    loop_id = "kernel_lpm_loop" if "lpm" in ident else "kernel_loop"
    if rest.startswith("value8"):
        rest = "value8"
    return ns.get((f"{base}/{rest}", loop_id), 0.0)


ops = defaultdict(dict)  # op -> {where: {id: ns}}
for (group, ident), value in ns.items():
    if group.startswith("loop_only") or "/" not in group:
        continue
    op, where = group.split("/", 1)
    if ident.startswith("kernel_"):
        value -= kernel_loop(group, ident)
    ops[op].setdefault(where, {})[ident] = value

ORDER = ["slice_index", "hashbrown", "array", "array_fast_path", "percpu_array",
         "percpu_array_fast_path", "hash", "percpu_hash", "lru_hash", "lru_percpu_hash",
         "lpm_trie"]


def rank(ident):
    plain = ident.removeprefix("kernel_")
    pos = ORDER.index(plain) if plain in ORDER else len(ORDER)
    return (ident.startswith("kernel_"), pos, ident)


def sort_where(where):
    size, _, fill = where.partition("/")
    digits = "".join(ch for ch in size if ch.isdigit()) or "0"
    fill_digits = "".join(ch for ch in fill if ch.isdigit())
    return (int(digits), int(fill_digits) if fill_digits else 1000, where)


for op in sorted(ops):
    rows = ops[op]
    idents = sorted({i for r in rows.values() for i in r}, key=rank)
    ratios = []
    for ident in idents:
        if ident.startswith("kernel_") or ident in ("hashbrown", "slice_index"):
            continue
        ceiling = "slice_index" if "array" in ident and ident.endswith("fast_path") else "hashbrown"
        if any(ceiling in r and ident in r for r in rows.values()):
            ratios.append((f"{ident} ÷ {ceiling}", ident, ceiling))
        if any(f"kernel_{ident}" in r and ident in r for r in rows.values()):
            ratios.append((f"kernel ÷ {ident}", f"kernel_{ident}", ident))
    print(f"\n### {op} (ns per operation)\n")
    print("| where | " + " | ".join(idents + [r[0] for r in ratios]) + " |")
    print("|---" * (1 + len(idents) + len(ratios)) + "|")
    for where in sorted(rows, key=sort_where):
        r = rows[where]
        cells = [f"{r[i]:.1f}" if i in r else "" for i in idents]
        for _, num, den in ratios:
            ok = num in r and den in r and r[den] > 0
            cells.append(f"{r[num] / r[den]:.2f}" if ok else "")
        print(f"| {where} | " + " | ".join(cells) + " |")
