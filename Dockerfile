# ftune for NVIDIA GPUs: a builder stage (CUDA toolkit + the official LibTorch CUDA build,
# cxx11 ABI, + Ubuntu's packages for the other dependencies) compiles `ftune` with the release
# preset; a runtime stage keeps the CUDA/cuDNN runtime, LibTorch's shared libraries and ftune.
#   docker build -t ftune .
#   docker run --gpus all -v "$PWD/models:/models" -v "$PWD/data:/data" ftune train --device cuda ...
# Ubuntu 24.04 has the Debian 12 versions of fmt (9.1), and CLI11 / SentencePiece / nlohmann-json /
# utf8proc / GoogleTest packages under the names scripts/install-deps.sh uses.
ARG CUDA_VERSION=12.6.3
ARG UBUNTU_VERSION=24.04

FROM nvidia/cuda:${CUDA_VERSION}-cudnn-devel-ubuntu${UBUNTU_VERSION} AS builder
# LibTorch's CUDA tag must match CUDA_VERSION's major.minor (cu126 = CUDA 12.6).
ARG LIBTORCH_VERSION=2.6.0
ARG LIBTORCH_CUDA=cu126
ARG FTUNE_TESTS=OFF
# No GPU while building: name the architectures instead of letting TorchConfig probe for one.
ENV TORCH_CUDA_ARCH_LIST="8.0;8.6;8.9;9.0"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      g++ cmake ninja-build pkg-config make ca-certificates curl unzip \
      libsentencepiece-dev libcli11-dev libfmt-dev nlohmann-json3-dev libutf8proc-dev \
      libgtest-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL -o /tmp/libtorch.zip \
      "https://download.pytorch.org/libtorch/${LIBTORCH_CUDA}/libtorch-cxx11-abi-shared-with-deps-${LIBTORCH_VERSION}%2B${LIBTORCH_CUDA}.zip" \
 && unzip -q /tmp/libtorch.zip -d /opt \
 && rm /tmp/libtorch.zip
WORKDIR /src
COPY . .
RUN cmake --preset release -DCMAKE_PREFIX_PATH=/opt/libtorch -DFTUNE_TESTS=${FTUNE_TESTS} \
 && cmake --build --preset release --target ftune ftune_spm \
 && install -D -m 755 build/ftune /out/bin/ftune \
 && install -D -m 644 build/libftune_spm.so /out/lib/ftune/libftune_spm.so

FROM nvidia/cuda:${CUDA_VERSION}-cudnn-runtime-ubuntu${UBUNTU_VERSION}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libsentencepiece0 libutf8proc3 libfmt9 zlib1g libgomp1 \
 && rm -rf /var/lib/apt/lists/*
# Same path as in the builder: ftune's RUNPATH points there.
COPY --from=builder /opt/libtorch/lib /opt/libtorch/lib
# ftune finds its SentencePiece module in <bin>/../lib/ftune/ (tokenizer/sentencepiece.cpp).
COPY --from=builder /out/ /usr/local/
ENV LD_LIBRARY_PATH=/opt/libtorch/lib
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin ftune \
 && mkdir -p /models /data \
 && chown ftune:ftune /models /data
USER ftune
WORKDIR /data
VOLUME ["/models", "/data"]
ENTRYPOINT ["ftune"]
CMD ["--help"]
