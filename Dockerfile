# One image for the four STOQ services: `docker run stoq <collector|aggregator|detector|trainer>`.
# Node 20 with the lockfile's packages, the kernel programs and the native addon built in.
FROM node:20-bookworm

# clang/llvm/libbpf for bpf/ (gcc-multilib provides asm/types.h for -target bpf); node:20 already has
# python3, make and g++ for the node-gyp addon.
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config gcc-multilib \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN if [ -f bpf/Makefile ]; then make -C bpf; fi && npm run --if-present build:addon

ENV NODE_ENV=production STOQ_LOG_LEVEL=info
ENTRYPOINT ["bin/stoq"]
CMD ["--help"]
