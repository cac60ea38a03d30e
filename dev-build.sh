#!/usr/bin/env bash
# Developer helper: rebuild the extension in place for an editable install
# (`pip install -e .` once; then this after each Rust change).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --features python
# Copy then rename: a running Python that has the old library mapped keeps it intact.
cp target/release/libdmft_sgd.so python/dmft_sgd/.core.tmp
mv python/dmft_sgd/.core.tmp python/dmft_sgd/_core.abi3.so
