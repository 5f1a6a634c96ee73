#!/usr/bin/env bash
# A software Vulkan driver that Dawn (inside onnxruntime-node's WebGPU provider) accepts, so the webgpu device
# path (GPU buffers, IO binding) runs on a machine without a GPU: Mesa 25's lavapipe from Debian
# bookworm-backports, unpacked into .lavapipe/ (git-ignored); the system's Mesa 22 lavapipe is refused by Dawn
# ("shaderUniform*ArrayDynamicIndexing required"). Nothing is installed system-wide.
#   bash bench/gpu/lavapipe.sh && source .lavapipe/env.sh && node --import tsx --test test/gpu-path.test.ts
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
git check-ignore -q .lavapipe/x || echo '/.lavapipe/' >> "$(git rev-parse --git-path info/exclude)"  # worktrees too
dir=$PWD/.lavapipe
rm -rf "$dir" && mkdir -p "$dir/lists/partial" "$dir/debs" "$dir/root"
printf '%s\n' "deb http://deb.debian.org/debian bookworm main" "deb http://deb.debian.org/debian bookworm-backports main" > "$dir/sources.list"
o=(-oDir::Etc::SourceList="$dir/sources.list" -oDir::Etc::SourceParts=/dev/null -oDir::State::Lists="$dir/lists" -oDebug::NoLocking=1)
apt-get "${o[@]}" update >/dev/null
(cd "$dir/debs" && apt-get "${o[@]}" download mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports >/dev/null 2>&1)
# the Vulkan loader too, where the system has none (onnxruntime-node's Dawn dlopens libvulkan.so.1)
ldconfig -p | grep -q 'libvulkan\.so\.1 ' || (cd "$dir/debs" && apt-get "${o[@]}" download libvulkan1/bookworm >/dev/null 2>&1)
for f in "$dir"/debs/*.deb; do dpkg -x "$f" "$dir/root"; done
lib=$dir/root/usr/lib/x86_64-linux-gnu
cat > "$dir/lvp_icd.json" <<JSON
{ "file_format_version": "1.0.0", "ICD": { "library_path": "$lib/libvulkan_lvp.so", "api_version": "1.4.305" } }
JSON
cat > "$dir/env.sh" <<ENV
export VK_ICD_FILENAMES=$dir/lvp_icd.json
export LD_LIBRARY_PATH=$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export XDG_RUNTIME_DIR=\${XDG_RUNTIME_DIR:-/tmp}
ENV
echo "lavapipe.sh: $(ls "$dir"/debs) unpacked; now: source .lavapipe/env.sh"
