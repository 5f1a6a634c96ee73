#!/usr/bin/env bash
# Prepares, here (npm registry and apt reachable), everything issue 14's GPU run needs on a bare GPU host (CUDA 13,
# Python with PyTorch; no Node.js, no registry, no Vulkan loader; at most 64 MiB carried per device call, git-ignored
# files kept between calls while the host stays up, ~30 s), and splits it into parts that fit:
#
#   bash bench/gpu/prepare.sh            # after npm ci; writes .gpu/ (git-ignored), prints the device calls
#
# The payload (.gpu/stage, then .gpu/parts/1..N/payload.part with a MANIFEST of sha256 sums):
#   node.xz                      this machine's Node.js
#   modules.tar.xz               production node_modules (npm ci --omit=dev), linux/x64 binaries only
#   debs/libvulkan1_*.deb        the Vulkan loader (onnxruntime-node's WebGPU provider drives the GPU through it)
#   libonnxruntime_providers_cuda.so.xz, libonnxruntime_providers_shared.so
#                                the CUDA 13 provider from the npm registry (`latentwalk gpu install cuda13`, which
#                                checks it fits the pinned onnxruntime-node), with GPU code for $ARCHS only
#                                (bench/gpu/fatbin.ts: 230 MB -> ~39 MB with xz instead of 165 MB)
#   SHA256SUMS
# Each part plus the working tree stays under LIMIT_MIB. On the host, `bash bench/gpu/run.sh` is the command of
# every call; the call that completes the set runs the benchmark.
#
# Knobs: ARCHS (90: H100/H200; "all" keeps every architecture), LIMIT_MIB (64), MARGIN_MIB (2), PROVIDER_FROM (a
# provider tarball already fetched with npm pack, to skip the download).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
ARCHS=${ARCHS:-90}
LIMIT_MIB=${LIMIT_MIB:-64}
MARGIN_MIB=${MARGIN_MIB:-2}
G=.gpu
log() { echo "[prepare $(date +%H:%M:%S)] $*" >&2; }
die() { log "$*"; exit 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

[ -d node_modules ] || die "run npm ci first"
git check-ignore -q "$G/parts/1/payload.part" || die "$G/ is not ignored by git here: it would travel with the working tree (add /.gpu/ to .gitignore)"
command -v xz >/dev/null || die "xz is needed"
ort=$(node -p "require('onnxruntime-node/package.json').version")
log "onnxruntime-node $ort; GPU architectures kept in the provider: sm_$ARCHS"

rm -rf "$G/stage" "$G/parts" "$G/scratch"
mkdir -p "$G/stage/debs" "$G/parts" "$G/scratch"
scratch=$(cd "$G/scratch" && pwd)

# 1. Node.js
log "Node.js $(node --version) -> node.xz"
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > "$G/stage/node.xz"

# 2. production node_modules, in a scratch copy so dev tools stay behind
log "production node_modules (npm ci --omit=dev)"
cp package.json package-lock.json "$scratch/"
(cd "$scratch" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
skip=(onnxruntime-node/bin/napi-v6/darwin onnxruntime-node/bin/napi-v6/win32 onnxruntime-node/bin/napi-v6/linux/arm64 .cache)
tar -C "$scratch" -cf - "${skip[@]/#/--exclude=node_modules/}" node_modules | xz -T0 -6 > "$G/stage/modules.tar.xz"

# 3. the Vulkan loader
lists=/tmp/gpu-apt-amd64; mkdir -p "$lists/partial"
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
# shellcheck disable=SC2086
apt-get $o update >/dev/null 2>&1 || true
# shellcheck disable=SC2086
(cd "$G/stage/debs" && apt-get $o download libvulkan1 >/dev/null 2>&1) || die "could not download libvulkan1 with apt-get"

# 4. the CUDA 13 provider: fetched and checked by the CLI itself, into the scratch onnxruntime-node
log "the CUDA 13 provider (latentwalk gpu install cuda13${PROVIDER_FROM:+ --from $PROVIDER_FROM})"
node bin/latentwalk.js gpu install cuda13 --onnxruntime-dir "$scratch/node_modules/onnxruntime-node" ${PROVIDER_FROM:+--from "$PROVIDER_FROM"} >&2
libdir="$scratch/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
if [ "$ARCHS" = all ]; then
  cp "$libdir/libonnxruntime_providers_cuda.so" "$scratch/provider.so"
else
  node --import tsx bench/gpu/fatbin.ts strip "$libdir/libonnxruntime_providers_cuda.so" "$scratch/provider.so" --keep "$ARCHS" >&2
fi
log "xz of the provider ($(mib "$(stat -c %s "$scratch/provider.so")") MiB)"
xz -T0 -6 -c "$scratch/provider.so" > "$G/stage/libonnxruntime_providers_cuda.so.xz"
cp "$libdir/libonnxruntime_providers_shared.so" "$G/stage/"
(cd "$G/stage" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs sha256sum > SHA256SUMS)

# 5. the payload in parts that fit next to the working tree
tar -C "$G/stage" -cf "$G/payload.tar" .
payload=$(stat -c %s "$G/payload.tar")
# what travels besides: tracked files and untracked ones git does not ignore
tree=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null || true) | awk '{ s += $1 } END { print s + 0 }')
part=$(( (LIMIT_MIB - MARGIN_MIB) * 1048576 - tree ))
[ "$part" -gt 1048576 ] || die "the working tree ($(mib "$tree") MiB) leaves no room under $LIMIT_MIB MiB"
(cd "$G/parts" && split -b "$part" -d -a 2 ../payload.tar p.)
sum=$(sha256sum "$G/payload.tar" | cut -d' ' -f1)
rm -f "$G/payload.tar"
total=$(ls "$G/parts" | wc -l)
manifest="parts=$total"$'\n'"payload=$sum"
k=0
for f in $(ls "$G/parts" | sort); do
  k=$((k + 1))
  mkdir "$G/parts/$k"
  mv "$G/parts/$f" "$G/parts/$k/payload.part"
  manifest+=$'\n'"part$k=$(sha256sum "$G/parts/$k/payload.part" | cut -d' ' -f1)"
done
for k in $(seq 1 "$total"); do printf '%s\n' "$manifest" > "$G/parts/$k/MANIFEST"; done
rm -rf "$scratch"

# 6. the sizes and the calls
{
  echo "# GPU run prepared $(date -u +%FT%TZ): onnxruntime-node $ort, provider sm_$ARCHS"
  echo
  for f in node.xz modules.tar.xz libonnxruntime_providers_cuda.so.xz libonnxruntime_providers_shared.so; do
    echo "- $f: $(mib "$(stat -c %s "$G/stage/$f")") MiB"
  done
  echo "- debs: $(mib "$(du -cb "$G"/stage/debs/*.deb | tail -1 | cut -f1)") MiB; payload $(mib "$payload") MiB in $total parts; working tree $(mib "$tree") MiB"
  echo
  echo "Device calls, back to back (the host is given back after ~30 s idle), the same script each time:"
  for k in $(seq 1 "$total"); do
    size=$(stat -c %s "$G/parts/$k/payload.part")
    if [ "$k" -lt "$total" ]; then
      echo "  $k. run(command: \"bash bench/gpu/run.sh\", carry: [\".gpu/parts/$k\"], timeout_s: 360)   # $(mib $((size + tree))) MiB with the tree"
    else
      echo "  $k. run(command: \"DEADLINE_S=450 bash bench/gpu/run.sh\", carry: [\".gpu/parts/$k\"], timeout_s: 520)   # $(mib $((size + tree))) MiB with the tree"
    fi
  done
  echo
  echo "Calls before the last check their part and export the model pack with the host's PyTorch (at most 300 s);"
  echo "the last reassembles the payload and runs the benchmark within DEADLINE_S seconds (results.md in the reply's"
  echo "files). Before the last call, if status's budget_left_s is under 600, use DEADLINE_S = budget_left_s - 120 and"
  echo "timeout_s = DEADLINE_S + 60, so the machine is not taken back before the results come home."
} | tee "$G/PLAN.md"
