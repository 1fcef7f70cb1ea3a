#!/usr/bin/env python3
"""uxdp over AF_XDP against the kernel's native XDP, in one run, on the same veth pair with
the same generator.

A veth pair joins two network namespaces of the script's own. In the generator namespace,
dpdk-testpmd (txonly, 64-byte UDP to port 9) sends through DPDK's AF_XDP PMD as fast as
it can from CPU 1. In the other, the same program runs on the receiving veth either in
the kernel (native XDP, attached with iproute2) or in uxdp (`uxdp run --afxdp`, its worker
on CPU 0, the redirect program in native mode, copy-mode sockets: veth has no zero-copy).

Programs (benches/programs): parse_drop.c (parse Ethernet/IPv4/UDP, drop port 9) and
mac_swap.c (XDP_TX back to the generator). The kernel's rate is the veth's own XDP
counters (rx_queue_0_xdp_drops / _xdp_tx, ethtool -S); uxdp's its per-interval verdict
rate. Each case runs --seconds (default 6); a rate is the median of the per-second samples
after the first two. Needs root, dpdk-testpmd (Debian: dpdk-dev), ethtool, clang-14 and a
release build of uxdp. Prints a table, or JSON with --json.

On a veth, the receive side's kernel work (running the XDP program, or redirecting and
copying the frame into uxdp's UMEM) runs in the softirq of the sending CPU: both cases
share the generator's CPU with that work, which bounds them both.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAC_DUT = "02:d0:00:00:00:01"
MAC_GEN = "02:ee:00:00:00:02"


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def compile_program(name, out_dir):
    out = os.path.join(out_dir, name + ".o")
    src = os.path.join(ROOT, "benches", "programs", name + ".c")
    sh("clang-14", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", src, "-o", out)
    return out


def median_after_warmup(values):
    values = values[2:] if len(values) > 3 else values
    return statistics.median(values) if values else 0.0


class Pair:
    """Namespaces `uxdp-bgen-PID` (up0) and `uxdp-bdut-PID` (ua0), removed on exit."""

    def __init__(self):
        pid = os.getpid()
        self.gen, self.dut = f"uxdp-bgen-{pid}", f"uxdp-bdut-{pid}"
        for ns in (self.gen, self.dut):
            sh("ip", "netns", "add", ns)
        sh("ip", "-n", self.dut, "link", "add", "ua0", "address", MAC_DUT, "type", "veth",
           "peer", "name", "up0", "address", MAC_GEN, "netns", self.gen)
        sh("ip", "-n", self.dut, "link", "set", "ua0", "up")
        sh("ip", "-n", self.gen, "link", "set", "up0", "up")

    def close(self):
        for ns in (self.gen, self.dut):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def generator(pair, seconds):
    """testpmd txonly on up0 through net_af_xdp, forwarding on CPU 1, for `seconds`."""
    return subprocess.Popen(
        ["ip", "netns", "exec", pair.gen, "timeout", "-s", "INT", str(seconds),
         "dpdk-testpmd", "--no-huge", "--no-pci", "-m", "1024", "-l", "0,1",
         f"--file-prefix=uxdp-bgen-{os.getpid()}", "--log-level=error",
         "--vdev", "net_af_xdp0,iface=up0", "--", "--forward-mode=txonly", "--txpkts=64",
         "--auto-start", f"--eth-peer=0,{MAC_DUT}", "--total-num-mbufs=16384",
         "--stats-period=1"],  # with no period, testpmd waits on stdin and quits at EOF
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def veth_counter(pair, name):
    out = sh("ip", "netns", "exec", pair.dut, "ethtool", "-S", "ua0")
    for line in out.splitlines():
        k, _, v = line.strip().partition(":")
        if k == name:
            return int(v)
    raise KeyError(name)


def kernel_case(pair, obj, counter, seconds):
    sh("ip", "-n", pair.dut, "link", "set", "dev", "ua0", "xdpdrv", "obj", obj, "sec", "xdp")
    gen = generator(pair, seconds + 3)
    try:
        time.sleep(2)
        samples, last = [], veth_counter(pair, counter)
        for _ in range(seconds):
            time.sleep(1)
            now = veth_counter(pair, counter)
            samples.append(now - last)
            last = now
        return median_after_warmup(samples)
    finally:
        gen.wait()
        sh("ip", "-n", pair.dut, "link", "set", "dev", "ua0", "xdpdrv", "off")


def uxdp_case(pair, uxdp_bin, obj, verdict, seconds):
    gen = generator(pair, seconds + 4)
    try:
        time.sleep(1)
        out = sh("ip", "netns", "exec", pair.dut, "taskset", "-c", "0", uxdp_bin, "run", obj,
                 "--afxdp", "ua0", "--mode", "native", "--json", "--stats", "1",
                 "--duration", str(seconds + 1))
        lines = [json.loads(l) for l in out.splitlines()]
        samples = [l["pps"][verdict] for l in lines if l["type"] == "interval"]
        port = [l for l in lines if l["type"] == "summary"][0]["ports"][0]
        # Frames the kernel could not hand over: uxdp fell behind (rx ring full) or had no
        # buffers out (fill ring empty).
        behind = port["rx_ring_full"] + port["rx_fill_ring_empty"]
        return median_after_warmup(samples), behind
    finally:
        gen.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--uxdp", default=os.path.join(ROOT, "target", "release", "uxdp"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("afxdp_veth: needs root (namespaces, XDP, AF_XDP)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    pair = Pair()
    try:
        with tempfile.TemporaryDirectory(prefix="uxdp-bench-") as d:
            cases = [("parse_drop", "rx_queue_0_xdp_drops", "XDP_DROP"),
                     ("mac_swap", "rx_queue_0_xdp_tx", "XDP_TX")]
            r, behind = {}, {}
            for prog, counter, verdict in cases:
                obj = compile_program(prog, d)
                r[f"kernel {prog}"] = kernel_case(pair, obj, counter, args.seconds)
                r[f"uxdp {prog}"], behind[prog] = uxdp_case(pair, args.uxdp, obj, verdict,
                                                           args.seconds)
    finally:
        pair.close()
    ratios = {p: r[f"uxdp {p}"] / r[f"kernel {p}"] if r[f"kernel {p}"] else 0.0
              for p, _, _ in cases}
    if args.json:
        print(json.dumps({"mpps": {k: v / 1e6 for k, v in r.items()}, "ratios": ratios,
                          "uxdp_socket_drops": behind}))
        return
    for k, v in r.items():
        print(f"{k:<22} {v / 1e6:7.3f} Mpps")
    for p, x in ratios.items():
        print(f"uxdp / kernel {p:<12} {x:5.2f}x  (frames uxdp's sockets dropped: {behind[p]})")


if __name__ == "__main__":
    main()
