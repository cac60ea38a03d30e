#!/usr/bin/env bash
# Developer helper: rebuild the extension in place for an editable install
# (`pip install -e .` once; then this after each Rust change).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --features python
cp target/release/libdmft_sgd.so python/dmft_sgd/_core.abi3.so
