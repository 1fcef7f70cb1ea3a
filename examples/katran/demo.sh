#!/usr/bin/env bash
# Runs uxdp's Katran-compatible balancer over DPDK's net_pcap driver on a generated
# workload and prints its counters: the balancer built with clang-14, its maps written
# from lb.cfg by katran-ctl, 100,000 TCP packets of 1,000 flows to the VIP, the
# encapsulated output in $OUT/out.pcap. Needs root (DPDK) and a release build
# (cargo build --release -p uxdp -p uxdp-katran).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../../target/release
OUT=${OUT:-$(mktemp -d /tmp/uxdp-katran-demo.XXXXXX)}
store=/dev/shm/uxdp-katran-demo-$$
trap 'rm -f "$store"' EXIT
clang-14 -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$here/bpf/balancer.c" -o "$OUT/balancer.o"
"$bin/katran-traffic" "$OUT/in.pcap" --vip 10.0.0.10:80 --sports 0-1000 --count 100000
mapfile -t maps < <("$bin/katran-ctl" records "$here/lb.cfg" "$OUT/maps" | tr ' ' '\n')
"$bin/uxdp" run "$OUT/balancer.o" "${maps[@]}" --store "$store" --dpdk --duration 3 --stats 0 -- \
  --no-huge --no-pci -m 256 --log-level=error -l 0 --file-prefix="uxdp-katran-demo-$$" \
  --vdev "net_pcap0,rx_pcap=$OUT/in.pcap,tx_pcap=$OUT/out.pcap"
"$bin/katran-ctl" --store "$store" stats "$here/lb.cfg"
echo "encapsulated frames: $OUT/out.pcap"
