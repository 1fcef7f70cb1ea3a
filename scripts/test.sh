#!/usr/bin/env bash
# The test command: every crate's tests (root needed for the kernel, namespace and
# hugepage suites, which fail rather than skip without it), then each fuzz target for a
# short bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
bash scripts/fuzz.sh "${UXDP_FUZZ_SECONDS:-30}"
