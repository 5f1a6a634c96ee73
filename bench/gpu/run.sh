#!/usr/bin/env bash
# Issue 14's GPU benchmark: the engine on onnxruntime's CUDA provider (and WebGPU, for the record) against PyTorch
# eager on the same card, in one run, timed the same way on both sides (sd3_bench.py's TIMING; engine-bench.ts).
#
# Here (npm registry + apt):  bash bench/gpu/prepare.sh     -> .gpu/parts/1..N (git-ignored) and the device calls
# On the GPU host, from the project root, the same command in each of the N calls, each carrying its part:
#     bash bench/gpu/run.sh
# A call that leaves parts to come checks the part it got and, the first time, exports the benchmark's model pack
# with the host's PyTorch (it needs no Node.js); the call that completes the set reassembles and checks the
# payload (Node.js, node_modules, the Vulkan loader, the CUDA 13 provider stripped to sm_90), installs the provider
# with `latentwalk gpu install cuda13 --from`, points LD_LIBRARY_PATH at the host's CUDA 13 libraries
# (`latentwalk gpu check --ld-library-path`: PyTorch's wheels), and runs:
#   1. the worker's provider choice with LATENTWALK_PROVIDER unset (worker-provider.ts)   -> worker.json
#   2. PyTorch eager: the transformer call and the morph (sd3_bench.py --phase time)      -> torch.json
#   3. the engine on each of $PROVIDERS (engine-bench.ts), cuda first                    -> engine-<provider>.json
#   4. report.py: the ratios against the targets                                         -> results.md, results.json
# Everything also goes to run.log. Results go to $OUT (the device tool's folder) or bench/gpu/results/.
# A host that already has node_modules and a provider (a CUDA 12 host after `latentwalk gpu install cuda12`) runs
# the same command with no parts: everything in one call, the export included.
#
# Knobs: DEADLINE_S (450: this call's own time; the stages share what is left: PyTorch 1/4, the first provider 2/5,
# the rest after it, a provider for the record only with a minute left), PROVIDERS ("cuda webgpu"), ITERS (10) and
# WARMUP (3) for both sides, MORPH_RUNS (1), EXPORT_LIMIT (300), PYTHON, SD3_ARGS (e.g. "--small --device cpu"),
# ENGINE_ARGS, BENCH_WORK (where the pack goes; .gpu/work by default, kept between calls).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
RES=${OUT:-bench/gpu/results}
WORK=${BENCH_WORK:-$ROOT/.gpu/work}
PYTHON=${PYTHON:-python3}
PROVIDERS=${PROVIDERS:-cuda webgpu}
ITERS=${ITERS:-10}
WARMUP=${WARMUP:-3}
MORPH_RUNS=${MORPH_RUNS:-1}
EXPORT_LIMIT=${EXPORT_LIMIT:-300}
DEADLINE_S=${DEADLINE_S:-450}
STARTED=$SECONDS
left() { echo $((DEADLINE_S - (SECONDS - STARTED))); }
mkdir -p "$RES" "$WORK"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$RES/run.log") 2>&1
stamp() { echo "[$(date +%H:%M:%S)] run.sh: $*"; }
PACK=$WORK/pack
TIMING_ARGS="--iters $ITERS --warmup $WARMUP --morph-runs $MORPH_RUNS"

export_pack() {
  if [ -f "$PACK/bench-reference.json" ] && [ -f "$PACK/latentwalk.json" ]; then stamp "the pack is already exported ($PACK)"; return 0; fi
  # an export that failed once (in an earlier call) is not retried here: it would take this call's time
  if [ -f "$WORK/export.failed" ]; then stamp "the export failed earlier: $(cat "$WORK/export.failed")"; return 1; fi
  stamp "export: the models with the host's PyTorch, into $PACK (limit ${EXPORT_LIMIT}s)"
  # shellcheck disable=SC2086
  timeout "$EXPORT_LIMIT" "$PYTHON" bench/gpu/sd3_bench.py --phase export --out "$PACK" --results "$WORK/export.json" ${SD3_ARGS:-}
  local status=$?
  [ $status -eq 0 ] && return 0
  echo "sd3_bench.py --phase export ended with status $status (124 = time limit); see that call's run.log" > "$WORK/export.failed"
  stamp "$(cat "$WORK/export.failed")"
  return 1
}

# ---------------------------------------------------------------------------------------------- parts and payload
stamp "start in $ROOT"
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader 2>/dev/null || stamp "no nvidia-smi"
# The payload is for a bare host: where node and node_modules are already there (here, say), it is left alone.
use_payload=0
if compgen -G ".gpu/parts/*/MANIFEST" >/dev/null; then
  if ! command -v node >/dev/null 2>&1 || [ ! -d node_modules ] || [ "${USE_PAYLOAD:-0}" = 1 ]; then use_payload=1
  else stamp "node and node_modules are here: the carried payload is not used (USE_PAYLOAD=1 to use it)"; fi
fi
if [ "$use_payload" = 1 ]; then
  manifest=$(ls .gpu/parts/*/MANIFEST | head -1)
  total=$(sed -n 's/^parts=//p' "$manifest")
  present=(); missing=()
  for k in $(seq 1 "$total"); do
    part=.gpu/parts/$k/payload.part
    want=$(sed -n "s/^part$k=//p" "$manifest")
    if [ -f "$part" ]; then
      got=$(sha256sum "$part" | cut -d' ' -f1)
      [ "$got" = "$want" ] || { stamp "part $k of $total is damaged (sha256 $got, expected $want): send it again"; exit 2; }
      present+=("$k")
    else
      missing+=("$k")
    fi
  done
  stamp "payload parts here: ${present[*]:-none} of $total (checksums good)${missing[*]:+; still to come: ${missing[*]}}"
  if [ ${#missing[@]} -gt 0 ]; then
    if [ ${#present[@]} -eq 0 ] || [ "${missing[0]}" -lt "${present[-1]}" ]; then
      stamp "part ${missing[0]} is gone: the host was given back between calls (30 s idle). Make the calls again, back to back, from part 1."
      exit 3
    fi
    export_pack || exit 1
    stamp "done: send part ${missing[0]} next (carry .gpu/parts/${missing[0]}), at once"
    exit 0
  fi
  if [ ! -f .gpu/stage/SHA256SUMS ] || [ "$(cat .gpu/stage/.payload-sha256 2>/dev/null)" != "$(sed -n 's/^payload=//p' "$manifest")" ]; then
    stamp "reassembling the payload"
    rm -rf .gpu/stage && mkdir -p .gpu/stage
    for k in $(seq 1 "$total"); do cat ".gpu/parts/$k/payload.part"; done > .gpu/payload.tar
    sum=$(sha256sum .gpu/payload.tar | cut -d' ' -f1)
    [ "$sum" = "$(sed -n 's/^payload=//p' "$manifest")" ] || { stamp "the reassembled payload's sha256 $sum is not the manifest's"; exit 2; }
    tar -xf .gpu/payload.tar -C .gpu/stage && rm -f .gpu/payload.tar
    (cd .gpu/stage && sha256sum -c --quiet SHA256SUMS) || { stamp "a payload file does not match SHA256SUMS"; exit 2; }
    echo "$sum" > .gpu/stage/.payload-sha256
  fi
  # Node.js, node_modules, the Vulkan loader (Dawn, inside onnxruntime-node's WebGPU provider, drives the GPU through it)
  mkdir -p .gpu/bin
  [ -x .gpu/bin/node ] || { xz -dc .gpu/stage/node.xz > .gpu/bin/node.partial && chmod +x .gpu/bin/node.partial && mv .gpu/bin/node.partial .gpu/bin/node; }
  [ -f node_modules/.gpu-payload ] && [ "$(cat node_modules/.gpu-payload)" = "$(cat .gpu/stage/.payload-sha256)" ] \
    || { rm -rf node_modules && xz -dc .gpu/stage/modules.tar.xz | tar -xf - && cp .gpu/stage/.payload-sha256 node_modules/.gpu-payload; }
  # into / on the GPU host (as the device tool's notes say); DEBS_ROOT elsewhere for a rehearsal on another machine
  debs_root=${DEBS_ROOT:-/}
  for f in .gpu/stage/debs/*.deb; do [ -f "$f" ] && dpkg -x "$f" "$debs_root"; done
  if [ "$debs_root" = / ]; then ldconfig 2>/dev/null || true
  else export LD_LIBRARY_PATH=$debs_root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; fi
  [ -d .gpu/provider ] || { mkdir -p .gpu/provider.partial && xz -dc .gpu/stage/libonnxruntime_providers_cuda.so.xz > .gpu/provider.partial/libonnxruntime_providers_cuda.so \
    && cp .gpu/stage/libonnxruntime_providers_shared.so .gpu/provider.partial/ && mv .gpu/provider.partial .gpu/provider; }
fi
export PATH=$ROOT/.gpu/bin:$PATH
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
command -v node >/dev/null 2>&1 || { stamp "no node here and no payload: run 'bash bench/gpu/prepare.sh' here and carry .gpu/parts/1..N"; exit 1; }
[ -d node_modules ] || { stamp "no node_modules: run npm ci (or carry the payload)"; exit 1; }
stamp "node $(node --version)"

# ---------------------------------------------------------------------------------------------- the provider
if [ -f .gpu/provider/libonnxruntime_providers_cuda.so ]; then
  stamp "installing the carried CUDA 13 provider"
  node bin/latentwalk.js gpu install cuda13 --from .gpu/provider || stamp "gpu install ended with status $?"
fi
extra=$(node bin/latentwalk.js gpu check --ld-library-path 2>/dev/null)
[ -n "$extra" ] && export LD_LIBRARY_PATH=$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} && stamp "LD_LIBRARY_PATH += $extra"
node bin/latentwalk.js gpu check || stamp "gpu check ended with status $?"

# ---------------------------------------------------------------------------------------------- the run
stamp "1/4 the worker's provider with LATENTWALK_PROVIDER unset"
(unset LATENTWALK_PROVIDER; timeout 120 node --import tsx bench/gpu/worker-provider.ts "$RES/worker.json") || stamp "worker-provider ended with status $?"

export_pack || stamp "no pack: the engine stages will fail"
avail=$(left)
torch_limit=$((avail / 4)); [ "$torch_limit" -ge 30 ] || torch_limit=30
stamp "2/4 PyTorch eager (limit ${torch_limit}s of ${avail}s left)"
# shellcheck disable=SC2086
timeout "$torch_limit" "$PYTHON" bench/gpu/sd3_bench.py --phase time --out "$PACK" --results "$RES/torch.json" --budget $((torch_limit - 10)) $TIMING_ARGS ${SD3_ARGS:-} \
  || stamp "sd3_bench.py ended with status $? (124 = time limit)"

n=0
for provider in $PROVIDERS; do
  n=$((n + 1))
  avail=$(($(left) - 10))
  # the first provider (the one the targets are for) gets 2/5 of what was there for both; the others what is left
  limit=$([ $n -eq 1 ] && echo $((avail * 8 / 15)) || echo "$avail")
  if [ $n -gt 1 ] && [ "$limit" -lt 60 ]; then stamp "3/4 the engine on $provider: skipped, ${avail}s left"; continue; fi
  [ "$limit" -ge 60 ] || limit=60
  stamp "3/4 the engine on $provider (limit ${limit}s)"
  # shellcheck disable=SC2086
  timeout "$limit" node --import tsx bench/gpu/engine-bench.ts --pack "$PACK" --torch "$RES/torch.json" --out "$RES/engine-$provider.json" \
    --providers "$provider" --budget $((limit - 15)) $TIMING_ARGS ${ENGINE_ARGS:-} \
    || stamp "engine-bench.ts on $provider ended with status $? (124 = time limit)"
done

stamp "4/4 report"
"$PYTHON" bench/gpu/report.py "$RES"
stamp "done"
