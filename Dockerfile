# syntax=docker/dockerfile:1
#
# Two images from one file (compose.yaml builds and runs both, with Redis):
#   docker build --target bot    -t latentwalk-bot .      # the Discord bot: Node only, no GPU libraries
#   docker build --target worker -t latentwalk-worker .   # a render worker: CUDA 12 + cuDNN 9, onnxruntime's CUDA provider
# CUDA 13 hosts (driver >= 580, no CUDA 12): the same worker with the CUDA 13 provider from the npm registry and a CUDA
# 13 base image; compose.cuda13.yaml sets both, or by hand:
#   docker build --target worker --build-arg CUDA_PROVIDER=cuda13 \
#     --build-arg CUDA_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04 -t latentwalk-worker .
# Both run as a non-root user, log JSON lines to stdout/stderr, and serve /healthz and /metrics on
# LATENTWALK_METRICS_PORT (the HEALTHCHECK uses it). Settings: environment variables (README, "Configuration").

# Pinned by version; the worker takes its Node binary from the same image.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04
# Which build of onnxruntime's CUDA provider the worker gets (`latentwalk gpu install`): cuda12 or cuda13. It must
# match CUDA_IMAGE's CUDA major; the worker stage checks that before the image is done.
ARG CUDA_PROVIDER=cuda12

# ---- production node_modules ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts behaves the same on npm 10 and npm 11 (which gates dependency install scripts anyway): sharp,
# esbuild and msgpackr ship prebuilt binaries as optional packages, and onnxruntime-node's script only fetches the
# CUDA provider, which the worker-deps stage installs explicitly.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# ---- the worker's node_modules: plus onnxruntime's CUDA provider -------------------------------------------------
FROM deps AS worker-deps
ARG CUDA_PROVIDER
# `latentwalk gpu install` puts the provider next to onnxruntime-node and refuses one built for another onnxruntime
# version: cuda12 runs onnxruntime-node's own install script (ONNXRUNTIME_NODE_INSTALL=cuda12, a download from NuGet,
# whatever npm or .npmrc say about install scripts); cuda13 fetches the CUDA 13 build from the npm registry (npm pack).
# The build fails if the libraries are not there afterwards.
COPY bin ./bin
COPY src ./src
RUN node bin/latentwalk.js gpu install ${CUDA_PROVIDER} \
 && test -s node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
 && test -s node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_shared.so

# ---- bot ----------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS bot
ENV NODE_ENV=production \
    LATENTWALK_METRICS_PORT=9464 \
    LATENTWALK_METRICS_HOST=0.0.0.0
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
# The bot never loads the render engine: no onnxruntime in this image at all.
RUN rm -rf node_modules/onnxruntime-node
COPY --chown=node:node package.json ./
COPY --chown=node:node bin ./bin
COPY --chown=node:node config ./config
COPY --chown=node:node src ./src
USER node
# Fails the build if anything in the bot's module graph needs what was removed above.
RUN node bin/latentwalk.js bot --help > /dev/null
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+process.env.LATENTWALK_METRICS_PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/latentwalk.js", "bot"]

# ---- worker -------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS node
FROM ${CUDA_IMAGE} AS worker
COPY --from=node /usr/local/bin/node /usr/local/bin/node
# Ubuntu 24.04 images (the CUDA 13 ones) come with a user "ubuntu" holding uid and gid 1000.
RUN if id -u ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
 && groupadd --gid 1000 latentwalk && useradd --uid 1000 --gid 1000 --no-create-home --shell /usr/sbin/nologin latentwalk
ENV NODE_ENV=production \
    LATENTWALK_PROVIDER=cuda \
    LATENTWALK_METRICS_PORT=9464 \
    LATENTWALK_METRICS_HOST=0.0.0.0
WORKDIR /app
COPY --from=worker-deps --chown=latentwalk:latentwalk /app/node_modules ./node_modules
COPY --chown=latentwalk:latentwalk package.json ./
COPY --chown=latentwalk:latentwalk bin ./bin
COPY --chown=latentwalk:latentwalk config ./config
COPY --chown=latentwalk:latentwalk src ./src
# The bundled models: .dockerignore lets in exactly models/shapes and models/emoji. The default one
# (src/engine/pack/bundled.ts) runs when LATENTWALK_MODEL_DIR is unset; any of them by name (LATENTWALK_MODEL_DIR=shapes).
# One COPY of the folder, so the build takes whichever of them this checkout holds.
COPY --chown=latentwalk:latentwalk models ./models
# Fails the build if the image lacks a library the provider needs (a cuda13 provider on a CUDA 12 image, say); the
# driver's libcuda.so.1 is mounted at run time by the NVIDIA Container Toolkit, so it is not required here.
RUN node bin/latentwalk.js gpu check --static --require cuda
# Real models are mounted here (read-only is fine): LATENTWALK_MODEL_DIR=/models/<pack>.
VOLUME ["/models"]
USER latentwalk
EXPOSE 9464
# Loading a large model takes a while: the endpoint answers 503 until the model is loaded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+process.env.LATENTWALK_METRICS_PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["node", "bin/latentwalk.js", "worker"]
