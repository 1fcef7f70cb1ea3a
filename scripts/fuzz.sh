#!/usr/bin/env bash
# Runs every cargo fuzz target for a bounded time on its corpus in fuzz/corpus (seconds
# per target as the first argument, default 30); the shim targets need root (the netlink
# one fuzzes in a network namespace of its own). Exits non-zero on the first crash, leaving
# the input in fuzz/artifacts. Uses stable Rust without a sanitizer (`-s none`): the
# targets check their own invariants, and libFuzzer's coverage needs no nightly flags.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-30}
for target in object btf verify_then_run shim_bpf shim_btf_load shim_netlink; do
  # A scratch copy: the run adds inputs, the repository's corpus stays as committed.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp -r "corpus/$target/." "$work/"
  echo "fuzz: $target for ${seconds}s"
  log="$work.log"
  set +e
  cargo fuzz run -s none -O "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=4096 >"$log" 2>&1
  status=$?
  set -e
  grep -E '^(Done|==[0-9]+==|thread|SUMMARY)|panicked' "$log" || true
  [ "$status" -eq 0 ] || tail -40 "$log" >&2
  rm -f "$log"
  rm -rf "$work"
  # The shim targets' stores (one per fuzzing process).
  rm -f "${TMPDIR:-/tmp}"/uxdp-fuzz-shim-*
  trap - EXIT
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $target failed (status $status); the input is in fuzz/artifacts/$target" >&2
    exit "$status"
  fi
done
