#!/usr/bin/env python3
"""uxdp over DPDK against dpdk-testpmd, in one run, on the same virtual devices and core.

Forwarding on net_null (no hugepages, forwarding on lcore 1 in both):
  testpmd io, testpmd macswap, and uxdp running benches/programs/mac_swap.c (XDP_TX);
  the ratio uxdp / testpmd macswap is the headline (goal: >= 0.9).
Per-worker rates of real programs on real packets (net_pcap replaying one frame forever):
  parse_drop.c (parse Ethernet/IPv4/UDP, drop), against testpmd rxonly on the same device;
  l4lb.c (the corpus's Katran-like balancer: VIP hash, LRU, ring, rewrite, XDP_TX).
Scaling: mac_swap on a two-queue net_null with two workers against one.

Each case runs --seconds (default 5); a rate is the median of the per-second reports after
the first. Needs root, dpdk-testpmd (Debian: dpdk-dev), clang-14 and a release build of
uxdp (cargo build --release). Prints a table, or JSON with --json.
"""

import argparse
import json
import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EAL_BASE = ["--no-huge", "--no-pci", "-m", "512", "--log-level=error"]


def udp_frame(dport):
    """Ethernet/IPv4/UDP from 10.1.2.3:40000 to 10.0.0.10:dport, 60 bytes."""
    payload = b"x" * 18
    udp_len = 8 + len(payload)
    ip = bytearray([0x45, 0]) + struct.pack(">H", 20 + udp_len)
    ip += bytes([0, 1, 0, 0, 64, 17, 0, 0, 10, 1, 2, 3, 10, 0, 0, 10])
    s = sum(struct.unpack(">10H", bytes(ip)))
    s = (s & 0xFFFF) + (s >> 16)
    ip[10:12] = struct.pack(">H", ~s & 0xFFFF)
    eth = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0])
    return eth + bytes(ip) + struct.pack(">HHHH", 40000, dport, udp_len, 0) + payload


def write_pcap(path, frame):
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame
    with open(path, "wb") as f:
        f.write(header + record)


def compile_program(name, out_dir):
    out = os.path.join(out_dir, name + ".o")
    src = os.path.join(ROOT, "benches", "programs", name + ".c")
    subprocess.run(
        ["clang-14", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
         "-c", src, "-o", out],
        check=True,
    )
    return out


def median_after_first(values):
    if len(values) > 1:
        values = values[1:]
    if not values:
        raise RuntimeError("no rate reported")
    return statistics.median(values)


def testpmd(mode, vdev, seconds, prefix):
    """Median Rx-pps of dpdk-testpmd in `mode`, forwarding on lcore 1."""
    cmd = ["dpdk-testpmd", "-l", "0-1", *EAL_BASE, f"--file-prefix={prefix}",
           "--vdev", vdev, "--", f"--forward-mode={mode}", "--port-topology=loop",
           "--stats-period", "1", "--nb-cores=1", "--total-num-mbufs=16384"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rates = []
    start = time.monotonic()
    try:
        for line in p.stdout:
            m = re.search(r"Rx-pps:\s+(\d+)", line)
            if m and int(m.group(1)) > 0:
                rates.append(int(m.group(1)))
            if time.monotonic() - start > seconds + 1:
                break
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/{prefix}"], check=False)
    return median_after_first(rates)


def uxdp(uxdp_bin, obj, vdev, lcores, seconds, extra=()):
    """Median rx rate (packets/s) of `uxdp run` over `vdev`, and the per-worker rates."""
    cmd = [uxdp_bin, "run", obj, "--dpdk", "--json", "--stats", "1",
           "--duration", str(seconds + 1), *extra, "--", "-l", lcores, *EAL_BASE,
           "--vdev", vdev]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rates, workers = [], []
    for line in out.splitlines():
        d = json.loads(line)
        if d["type"] == "interval":
            rates.append(d["pps"]["rx"])
        elif d["type"] == "summary":
            workers = [w["rx_mpps"] for w in d["workers"]]
    return median_after_first(rates), workers


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--uxdp", default=os.path.join(ROOT, "target", "release", "uxdp"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.uxdp):
        sys.exit(f"{args.uxdp}: build it first (cargo build --release)")
    t = args.seconds
    pid = os.getpid()
    with tempfile.TemporaryDirectory(prefix="uxdp-bench-dpdk-") as d:
        objs = {n: compile_program(n, d) for n in ["mac_swap", "parse_drop", "l4lb"]}
        drop_pcap = os.path.join(d, "udp9.pcap")
        write_pcap(drop_pcap, udp_frame(9))
        vip_pcap = os.path.join(d, "udp80.pcap")
        write_pcap(vip_pcap, udp_frame(80))
        vip = os.path.join(d, "vip.bin")
        with open(vip, "wb") as f:  # 10.0.0.10:80/UDP is VIP number 1
            f.write(bytes([10, 0, 0, 10]) + struct.pack(">H", 80) + bytes([17, 0])
                    + struct.pack("<II", 0, 1))
        replay = lambda p: f"net_pcap0,rx_pcap={p},infinite_rx=1"  # noqa: E731

        r = {}
        r["testpmd io, net_null"] = testpmd("io", "net_null0", t, f"uxdp-b-io-{pid}")
        r["testpmd macswap, net_null"] = testpmd("macswap", "net_null0", t, f"uxdp-b-ms-{pid}")
        r["uxdp mac_swap, net_null"], _ = uxdp(args.uxdp, objs["mac_swap"], "net_null0", "1", t)
        r["testpmd rxonly, pcap replay"] = testpmd(
            "rxonly", replay(drop_pcap), t, f"uxdp-b-rx-{pid}")
        r["uxdp parse_drop, pcap replay"], _ = uxdp(
            args.uxdp, objs["parse_drop"], replay(drop_pcap), "1", t)
        r["uxdp l4lb, pcap replay"], _ = uxdp(
            args.uxdp, objs["l4lb"], replay(vip_pcap), "1", t, ["--map", f"vip_map={vip}"])
        two, per_worker = uxdp(args.uxdp, objs["mac_swap"], "net_null0", "0-1", t,
                               ["--workers", "2"])
        r["uxdp mac_swap, net_null, 2 workers"] = two

    ratios = {
        "uxdp mac_swap / testpmd macswap": r["uxdp mac_swap, net_null"]
        / r["testpmd macswap, net_null"],
        "uxdp mac_swap / testpmd io": r["uxdp mac_swap, net_null"] / r["testpmd io, net_null"],
        "uxdp parse_drop / testpmd rxonly": r["uxdp parse_drop, pcap replay"]
        / r["testpmd rxonly, pcap replay"],
        "2 workers / 1 worker (mac_swap)": r["uxdp mac_swap, net_null, 2 workers"]
        / r["uxdp mac_swap, net_null"],
    }
    if args.json:
        print(json.dumps({"mpps": {k: v / 1e6 for k, v in r.items()}, "ratios": ratios,
                          "two_workers_mpps_each": per_worker}, indent=1))
        return
    print(f"{'case':44} {'Mpps':>8}")
    for k, v in r.items():
        print(f"{k:44} {v / 1e6:8.2f}")
    print(f"  (2 workers: {', '.join(f'{w:.2f}' for w in per_worker)} Mpps each)")
    for k, v in ratios.items():
        print(f"{k:44} {v:8.2f}x")


if __name__ == "__main__":
    main()
