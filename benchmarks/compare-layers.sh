#!/usr/bin/env bash
# Runs PyTorch's per-layer figures and ours in one go, on the same machine, for the
# side-by-side table. PyTorch (Debian python3-torch) runs the way it runs best here:
# channels-last, 2 threads, and glibc told to keep freed memory (otherwise it loses half its
# speed to first-touch page faults).
#   bash benchmarks/compare-layers.sh [torch-bench-folder]   (default: ../shared/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
bench_dir="${1:-../shared/bench}"
out="$(mktemp -d)"

if [ -f "$bench_dir/torch_layers.py" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "== PyTorch"
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296 \
    /usr/bin/python3 "$bench_dir/torch_layers.py" --fmt cl --threads 2 --batch 32 --skip-sgemm
else
  echo "== PyTorch: skipped (needs python3-torch and $bench_dir/torch_layers.py)"
fi

echo "== Engine"
dotnet run -c Release --project benchmarks -- --filter '*LayerBenchmarks*' --artifacts "$out" \
  | sed -n '/^| Method/,/^$/p'
rm -rf "$out"
