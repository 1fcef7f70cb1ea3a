#!/usr/bin/env python3
"""Control-plane operations through libbpf against the kernel and under libuxdp_shim.so, in
one run: the same C client (benches/clients/shim_ops.c, built here against Debian's
libbpf) times map lookups and updates on a hash (half of 4096 entries filled) and an
array, and a batch dump of the hash, first against the kernel's bpf() syscall, then with
the shim preloaded (a private store, removed after). Prints ns per operation and the
kernel/shim ratio (above 1: the shim is faster). Needs root for the kernel's maps and a
build of the shim (cargo build --release -p uxdp-shim). --json for JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(exe, n, env):
    out = subprocess.run([exe, str(n)], check=True, capture_output=True, text=True, env=env)
    return {name: float(ns) for name, ns in (l.split() for l in out.stdout.splitlines())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=1_000_000, help="operations per case")
    ap.add_argument("--profile", default="release", help="cargo profile of the shim")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    shim = os.path.join(ROOT, "target", args.profile, "libuxdp_shim.so")
    if not os.path.exists(shim):
        sys.exit(f"{shim} is missing: cargo build --release -p uxdp-shim")
    with tempfile.TemporaryDirectory(prefix="uxdp-shim-ops-") as tmp:
        exe = os.path.join(tmp, "shim_ops")
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "benches/clients/shim_ops.c"),
                        "-lbpf"], check=True)
        kernel = run(exe, args.ops, dict(os.environ))
        env = dict(os.environ, LD_PRELOAD=shim, UXDP_STORE=os.path.join(tmp, "store"))
        ours = run(exe, args.ops, env)
    rows = [{"op": k, "kernel_ns": kernel[k], "shim_ns": ours[k], "kernel_over_shim": kernel[k] / ours[k]}
            for k in kernel]
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'operation':<22}{'kernel ns':>12}{'shim ns':>12}{'kernel/shim':>14}")
    for r in rows:
        print(f"{r['op']:<22}{r['kernel_ns']:>12.1f}{r['shim_ns']:>12.1f}{r['kernel_over_shim']:>13.2f}x")


if __name__ == "__main__":
    main()
