#!/usr/bin/env bash
# Side-by-side speed of the project (JAX) and the PyTorch reference, in one run.
#
#   benchmarks/compare.sh > results.jsonl      # JSON lines on stdout, progress on stderr
#
# Environment:
#   IMPLS       LSTM implementations to time (default "scan fused bf16")
#   TORCH_VENV  venv holding torch (default /tmp/torch-venv; created when missing)
#   ALLOCATOR   installed (default): each framework as a user runs it, i.e. JAX under the
#               launcher's handling (tcmalloc where installed), PyTorch under the
#               environment's LD_PRELOAD; glibc: both under glibc's malloc; tcmalloc: both
#               under tcmalloc (`python -m sensegen.allocator` finds it).
#   CPU_DEVICES JAX train steps' --cpu_devices (default 0, the launcher's: one per core; 1: one)
# Every JSON line names the allocator its framework ran under ("allocator").
# Takes ~6-7 minutes on an idle 2-core CPU with IMPLS=fused.
set -euo pipefail
cd "$(dirname "$0")/.."

IMPLS="${IMPLS:-scan fused bf16}"
TORCH_VENV="${TORCH_VENV:-/tmp/torch-venv}"
TORCH_REF="../shared/bench/torch_ref.py"
PY="${PYTHON:-python3}"
ALLOCATOR="${ALLOCATOR:-installed}"
CPU_DEVICES="${CPU_DEVICES:-0}"

log() { echo "compare.sh: $*" >&2; }

# LD_PRELOAD without tcmalloc entries.
without_tcmalloc() { tr ' :' '\n\n' <<<"${LD_PRELOAD:-}" | grep -v tcmalloc | paste -sd: -; }

case "$ALLOCATOR" in
  installed) ;;
  glibc)
    export SENSEGEN_TCMALLOC=0 LD_PRELOAD="$(without_tcmalloc)" ;;
  tcmalloc)
    if [[ "${LD_PRELOAD:-}" != *tcmalloc* ]]; then
      lib="$("$PY" -m sensegen.allocator)" || { log "ALLOCATOR=tcmalloc: no tcmalloc found"; exit 2; }
      export LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
    fi ;;
  *) log "ALLOCATOR=$ALLOCATOR: expected installed, glibc or tcmalloc"; exit 2 ;;
esac
[[ "${LD_PRELOAD:-}" == *tcmalloc* ]] && torch_allocator=tcmalloc || torch_allocator=glibc
log "allocator: $ALLOCATOR (PyTorch: $torch_allocator; JAX lines record their own)"

torch_py=""
if [[ ! -f "$TORCH_REF" ]]; then
  log "no $TORCH_REF: skipping PyTorch"
else
  if [[ ! -x "$TORCH_VENV/bin/python" ]] || ! "$TORCH_VENV/bin/python" -c "import torch" 2>/dev/null; then
    log "creating $TORCH_VENV with torch==2.13.0"
    python3 -m venv "$TORCH_VENV" >&2 && "$TORCH_VENV/bin/pip" install -q torch==2.13.0 >&2 \
      || log "could not install torch"
  fi
  if "$TORCH_VENV/bin/python" -c "import torch" 2>/dev/null; then
    torch_py="$TORCH_VENV/bin/python"
  else
    log "torch unavailable: skipping PyTorch"
  fi
fi

# torch_ref.py's JSON line with the allocator it ran under.
torch_ref() {
  [[ -z "$torch_py" ]] || "$torch_py" "$TORCH_REF" "$@" \
    | sed "s/}\$/, \"allocator\": \"$torch_allocator\"}/"
}

log "matmul peak"
"$PY" benchmarks/matmul_peak.py --n 2048 --iters 20
torch_ref --mode matmul --n 2048 --iters 20

# batch, T, timed iterations (fewer for the large window: one step takes seconds; at least
# 5 there, since the first timed steps after compilation can take 2-3x the steady time).
for config in "32 100 10" "128 100 5" "256 400 5"; do
  read -r batch steps iters <<<"$config"
  log "train step B=$batch T=$steps"
  for impl in $IMPLS; do
    "$PY" benchmarks/train_step.py --batch "$batch" --steps "$steps" --iters "$iters" --impl "$impl" \
      --cpu_devices "$CPU_DEVICES"
  done
  torch_ref --mode train --batch "$batch" --steps "$steps" --iters "$iters"
done

for config in "1 400 5" "256 400 3"; do
  read -r num length iters <<<"$config"
  log "sampling N=$num L=$length"
  "$PY" benchmarks/sample.py --num "$num" --length "$length" --iters "$iters"
  "$PY" benchmarks/sample.py --num "$num" --length "$length" --iters "$iters" --matvec_floor
  torch_ref --mode sample --n "$num" --steps "$length" --iters "$iters"
done
