# ftune for NVIDIA GPUs, built the way scripts/gpu-check.sh builds it on a GPU host: against the
# LibTorch inside PyPI's CUDA torch wheel (FTUNE_TORCH_FROM_PYTHON, the release preset's flags), so
# that the check passing on a GPU host vouches for this image. A builder stage (CUDA toolkit for
# TorchConfig, the wheel in a venv, Ubuntu's packages for the other dependencies) compiles `ftune`;
# the runtime stage keeps the wheel's libraries (LibTorch, and the CUDA/cuDNN/NCCL libraries the
# wheel depends on, from PyPI's nvidia-* packages) at the same path, and ftune.
#   docker build -t ftune .
#   docker run --gpus all -v "$PWD/models:/models" -v "$PWD/data:/data" ftune train --device cuda ...
# Ubuntu 24.04 has CLI11 / SentencePiece / nlohmann-json / utf8proc / GoogleTest / gloo headers
# under the names scripts/install-deps.sh uses.
ARG CUDA_VERSION=13.0.0
ARG UBUNTU_VERSION=24.04

FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS builder
# The torch wheel's CUDA major must match CUDA_VERSION's (torch 2.11 on PyPI is built for CUDA 13).
ARG TORCH_VERSION=2.11.0
ARG FTUNE_TESTS=OFF
# No GPU while building: name the architectures instead of letting TorchConfig probe for one.
ENV TORCH_CUDA_ARCH_LIST="8.0;8.6;8.9;9.0;10.0"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      g++ cmake ninja-build pkg-config make python3 python3-venv \
      libsentencepiece-dev libcli11-dev libfmt-dev nlohmann-json3-dev libutf8proc-dev \
      libgtest-dev zlib1g-dev libgloo-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/torch \
 && /opt/torch/bin/pip install --no-cache-dir "torch==${TORCH_VERSION}"
WORKDIR /src
COPY . .
RUN cmake --preset release -DFTUNE_TORCH_FROM_PYTHON=ON -DFTUNE_PYTHON=/opt/torch/bin/python \
      -DFTUNE_TESTS=${FTUNE_TESTS} \
 && cmake --build --preset release --target ftune ftune_spm \
 && install -D -m 755 build/ftune /out/bin/ftune \
 && install -D -m 644 build/libftune_spm.so /out/lib/ftune/libftune_spm.so \
 && site=$(/opt/torch/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
 && mkdir -p /out/torch-site \
 && cp -a "$site/torch/lib" /out/torch-site/torch-lib \
 && cp -a "$site/nvidia" /out/torch-site/nvidia \
 && echo "$site" > /out/torch-site/PATH

FROM nvidia/cuda:${CUDA_VERSION}-base-ubuntu${UBUNTU_VERSION}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libsentencepiece0 libutf8proc3 libfmt9 zlib1g libgomp1 \
 && rm -rf /var/lib/apt/lists/*
# Same paths as in the builder: ftune's RUNPATH names torch/lib, whose libraries find the
# nvidia-* packages' through their own $ORIGIN-relative RUNPATHs.
COPY --from=builder /out/torch-site /tmp/torch-site
RUN site=$(cat /tmp/torch-site/PATH) \
 && mkdir -p "$site/torch" \
 && mv /tmp/torch-site/torch-lib "$site/torch/lib" \
 && mv /tmp/torch-site/nvidia "$site/nvidia" \
 && rm -rf /tmp/torch-site
# ftune finds its SentencePiece module in <bin>/../lib/ftune/ (tokenizer/sentencepiece.cpp).
COPY --from=builder /out/bin /usr/local/bin
COPY --from=builder /out/lib /usr/local/lib
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin ftune \
 && mkdir -p /models /data \
 && chown ftune:ftune /models /data
USER ftune
WORKDIR /data
VOLUME ["/models", "/data"]
ENTRYPOINT ["ftune"]
CMD ["--help"]
