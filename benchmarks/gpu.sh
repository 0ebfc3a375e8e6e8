#!/usr/bin/env bash
# The GPU checks in one pass (a lent GPU machine is held for minutes, so they run together):
# the speed benchmarks at the paper's model, then `launch/har.flags` (paper scale) for at most
# HAR_SECONDS (stopped by SIGTERM, which checkpoints) and evaluated.
#
#   benchmarks/gpu.sh OUTDIR     # JSON lines in OUTDIR/bench.jsonl; the run's files in OUTDIR
#
# Environment: HAR_SECONDS (default 240), EVAL_SECONDS (default 120), PYTHON (default python3:
# a Python with requirements.txt's packages and a GPU build of jaxlib).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: benchmarks/gpu.sh OUTDIR}"
HAR_SECONDS="${HAR_SECONDS:-240}"
EVAL_SECONDS="${EVAL_SECONDS:-120}"
PY="${PYTHON:-python3}"
RUN=/tmp/sensegen_gpu_har
mkdir -p "$OUT"
export SENSEGEN_DATA_DIR="${SENSEGEN_DATA_DIR:-/tmp/sensegen_gpu_tfds}"

log() { echo "gpu.sh $(date +%T): $*" >&2; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c 'import jax, flax, optax, orbax.checkpoint as o; print("jax", jax.__version__, "flax",
flax.__version__, "optax", optax.__version__, "orbax", o.__version__, jax.devices())' || exit 1
# Fail fast: the data (TFDS, array_record) and the launcher import before any long step.
"$PY" -c 'from sensegen.data import har; print(har.load_har(split="train"))' || exit 1

bench() { log "$*"; timeout 120 "$PY" "$@" >>"$OUT/bench.jsonl" || log "failed ($?): $*"; }
# The paper's batch (har.flags) and the issue's larger shapes; every LSTM implementation.
for impl in fused bf16; do
  bench benchmarks/train_step.py --batch 64 --steps 100 --iters 20 --impl "$impl"
done
bench benchmarks/train_step.py --batch 256 --steps 400 --iters 10 --impl fused
for num in 1 256 4096; do
  bench benchmarks/sample.py --num "$num" --length 400 --iters 5
done
bench benchmarks/sample.py --num 1 --length 400 --iters 5 --matvec_floor

log "launch/har.flags for at most ${HAR_SECONDS}s"
rm -rf "$RUN"
start=$(date +%s)
timeout -s TERM -k 60 "$HAR_SECONDS" "$PY" -m sensegen.launch --flagfile=launch/har.flags \
  --workdir="$RUN" 2>&1 | tee "$OUT/har_train.log"
log "training stopped after $(($(date +%s) - start))s"
cp "$RUN/metrics.jsonl" "$OUT/har_metrics.jsonl"
timeout -k 30 "$EVAL_SECONDS" "$PY" -m sensegen.launch --mode=evaluate --workdir="$RUN" \
  --num_samples=256 2>&1 | tail -40 | tee "$OUT/har_eval.log"
cp "$RUN/eval/report.json" "$OUT/har_report.json"
log "done"
