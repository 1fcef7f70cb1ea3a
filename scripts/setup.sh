#!/usr/bin/env bash
# Installs the system packages uxdp needs on Debian 12. Idempotent: installs only what is
# missing. Needs root (or sudo) the first time.
set -euo pipefail

# clang-14 and libbpf-dev build the XDP test corpus (bpf_helpers.h); bpftool and iproute2
# drive the kernel side of the tests.
# libdpdk-dev (its poll-mode drivers come along) and libclang-14-dev (for bindgen) build
# io-dpdk; dpdk-dev brings dpdk-testpmd, the DPDK benchmark anchor. ping and ethtool
# serve the AF_XDP router test; xdp-tools brings xdp-loader, a control plane the shim serves;
# fonts-dejavu-core gives the benchmark plots their font; tmux is the terminal the
# `uxdp stats` test reads; libelf-dev, zlib1g-dev and make build the libbpf 1.7 that the
# libbpf-sys crate vendors, which the shim's C test clients are built against too.
packages=(build-essential pkg-config clang-14 llvm-14 gcc-multilib libbpf-dev bpftool iproute2
  libdpdk-dev dpdk dpdk-dev libclang-14-dev iputils-ping ethtool xdp-tools
  fonts-dejavu-core tmux libelf-dev zlib1g-dev make)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  apt=(apt-get -o DPkg::Lock::Timeout=900)
  "${sudo[@]}" "${apt[@]}" update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: install Rust 1.95 or newer (rustup) first" >&2
  exit 1
fi

# cargo fuzz drives the fuzz targets (scripts/fuzz.sh); from crates.io, built once.
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

# The BPF file system, where bpftool pins the kernel's objects (the tests compare uxdp's
# pins with the kernel's); systemd mounts it at boot, a bare container may not have.
if ! mountpoint -q /sys/fs/bpf; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" mount -t bpf bpf /sys/fs/bpf
fi
