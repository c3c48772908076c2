#!/usr/bin/env bash
# Runs PyTorch's per-layer figures and ours on the same machine, alternating, several rounds,
# and prints the side-by-side table of each figure's median over the rounds. This machine's
# speed wanders by 10-20% for tens of seconds at a time; alternating rounds and medians give
# both sides the same weather. PyTorch (Debian python3-torch) runs the way it runs best here:
# channels-last, 2 threads, and glibc told to keep freed memory (otherwise it loses half its
# speed to first-touch page faults).
#   bash benchmarks/compare-layers.sh [rounds (3)] [torch-bench-folder (../shared/bench)]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
bench_dir="${2:-../shared/bench}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

torch=0
if [ -f "$bench_dir/torch_layers.py" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
  torch=1
else
  echo "== PyTorch: skipped (needs python3-torch and $bench_dir/torch_layers.py)"
fi

dotnet build benchmarks -c Release -nologo -v quiet >/dev/null
for round in $(seq 1 "$rounds"); do
  if [ "$torch" = 1 ]; then
    echo "== round $round: PyTorch"
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296 \
      /usr/bin/python3 "$bench_dir/torch_layers.py" --fmt cl --threads 2 --batch 32 --skip-sgemm \
      | tee "$out/torch-$round.txt"
  fi
  echo "== round $round: Engine"
  dotnet run -c Release --no-build --project benchmarks -- --filter '*LayerBenchmarks*' --artifacts "$out/bdn-$round" \
    | sed -n '/^| Method/,/^$/p' | tee "$out/engine-$round.txt"
done

/usr/bin/python3 - "$out" "$rounds" <<'PY'
import re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def key(name):  # PyTorch calls it BatchNorm2d, we call it BatchNorm
    return name.replace("BatchNorm2d", "BatchNorm").strip()
ours, theirs, order = {}, {}, []
for r in range(1, rounds + 1):
    column = None
    for line in open(f"{out}/engine-{r}.txt"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "Method":
            column = cells.index("Throughput")
        if column is None or cells[0] not in ("Forward", "ForwardBackward"):
            continue
        name = key(cells[1])
        m = re.match(r"([\d.,]+) (\S+)", cells[column])
        if name not in order: order.append(name)
        ours.setdefault((name, cells[0]), []).append(float(m.group(1).replace(",", "")))
        ours.setdefault((name, "unit"), [m.group(2)])
    try:
        lines = open(f"{out}/torch-{r}.txt").read().splitlines()
    except FileNotFoundError:
        continue
    for line in lines:
        m = re.match(r"(.+?)\s+fwd\s+[\d.]+ ms\s+([\d.]+) \S+ \| fwd\+bwd\s+[\d.]+ ms\s+([\d.]+)", line)
        if m:
            theirs.setdefault((key(m.group(1)), "Forward"), []).append(float(m.group(2)))
            theirs.setdefault((key(m.group(1)), "ForwardBackward"), []).append(float(m.group(3)))
# PyTorch's listing order (convolutions first), then anything only we measured.
listed = [k[0] for k in theirs if k[1] == "Forward"]
order.sort(key=lambda n: listed.index(n) if n in listed else len(listed))
def table(title, stat):
    print(f"\n{title}\n")
    print("| layer | unit | ours fwd | PyTorch fwd | ratio | ours fwd+bwd | PyTorch fwd+bwd | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in order:
        row = [name, ours[(name, "unit")][0]]
        for method in ("Forward", "ForwardBackward"):
            a, b = ours.get((name, method), []), theirs.get((name, method), [])
            span = lambda xs: f"{stat(xs):.1f} [{min(xs):.0f}-{max(xs):.0f}]" if len(xs) > 1 else (f"{xs[0]:.1f}" if xs else "-")
            row += [span(a), span(b), f"{stat(a) / stat(b):.2f}" if a and b else "-"]
        print("| " + " | ".join(row) + " |")
table(f"Medians over {rounds} alternating round(s); each figure's range across rounds in brackets.", statistics.median)
# Each side's best case in the same rounds: the machine's speed drifts both ways between
# rounds, so this shows the spread's top, beside the medians above.
table("Fastest round of each side.", max)
PY
