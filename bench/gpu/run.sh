#!/usr/bin/env bash
# Issue 7's GPU benchmark in one command: the engine vs PyTorch eager on random-weight SD3-Medium-shaped models.
#
# Here (a machine with the registry):  npm ci && bash ../shared/gpu/prepare.sh      (writes .gpu/, git-ignored)
# On the GPU host, from the project root with .gpu/ carried:  bash bench/gpu/run.sh
#
# Stages, each under its own time limit (the whole run stays under 8 minutes on an H200):
#   1. sd3_bench.py: builds the models with the host's PyTorch, times one transformer call (PyTorch eager, SDPA),
#      exports the pack (fp16, com.microsoft MultiHeadAttention), then times the 16-frame morph;
#   2. engine-bench.ts: the engine on that pack through onnxruntime-node (cuda, then webgpu, then cpu: the first
#      that starts), one call, the morph, the provider's fp16 MatMul ceiling, the host path's call;
#   3. report.py: ratios engine / PyTorch into results.md and results.json.
# Results go to $OUT (the device tool's folder) or bench/gpu/results/. Knobs: PY_LIMIT, NODE_LIMIT (seconds),
# PYTHON, SD3_ARGS (e.g. "--attention plain"), ENGINE_ARGS (e.g. "--providers webgpu"), BENCH_WORK (where the pack goes).
set -uo pipefail
cd "$(dirname "$0")/../.."
RES=${OUT:-bench/gpu/results}
WORK=${BENCH_WORK:-/tmp/latentwalk-bench}
PY_LIMIT=${PY_LIMIT:-200}
PYTHON=${PYTHON:-python3}
NODE_LIMIT=${NODE_LIMIT:-230}
mkdir -p "$RES" "$WORK"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$RES/run.log") 2>&1
stamp() { echo "[$(date +%H:%M:%S)] run.sh: $*"; }

stamp "start in $(pwd)"
if ! command -v node >/dev/null 2>&1; then
  [ -f .gpu/bootstrap.sh ] || { stamp "no node and no .gpu/bootstrap.sh: run 'npm ci && bash ../shared/gpu/prepare.sh' first and carry .gpu"; exit 1; }
  # shellcheck disable=SC1091
  source .gpu/bootstrap.sh
fi
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm --format=csv,noheader 2>/dev/null || stamp "no nvidia-smi"

stamp "1/3 models, export and PyTorch timings (limit ${PY_LIMIT}s)"
# shellcheck disable=SC2086
timeout "$PY_LIMIT" "$PYTHON" bench/gpu/sd3_bench.py --out "$WORK/pack" --results "$RES/torch.json" --budget $((PY_LIMIT - 15)) ${SD3_ARGS:-} \
  || stamp "sd3_bench.py ended with status $? (124 = time limit)"

stamp "2/3 the engine on the pack (limit ${NODE_LIMIT}s)"
# shellcheck disable=SC2086
timeout "$NODE_LIMIT" node --import tsx bench/gpu/engine-bench.ts --pack "$WORK/pack" --torch "$RES/torch.json" --out "$RES/engine.json" \
  --budget $((NODE_LIMIT - 20)) --host-call ${ENGINE_ARGS:-} \
  || stamp "engine-bench.ts ended with status $? (124 = time limit)"

stamp "3/3 report"
"$PYTHON" bench/gpu/report.py "$RES"
stamp "done"
