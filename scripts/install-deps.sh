#!/usr/bin/env bash
# Installs the Debian packages Watershed needs to build, test and benchmark.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  cmake ninja-build g++ clang libclang-rt-14-dev   # toolchain; clang for libFuzzer
  libboost-dev libsimdjson-dev                      # Beast/Asio, JSON
  libssl-dev openssl                                # JWT signatures, TLS; test certificates
  protobuf-compiler                                 # tests: protoc --encode, an independent protobuf encoder
  librdkafka-dev libhiredis-dev pkg-config          # Kafka log, Redis live store (issue #4)
  kcat                                              # inspecting Kafka in tests and by hand
  libgtest-dev libgmock-dev libbenchmark-dev        # tests, benchmarks
  redis-server redis-tools                          # benchmark reference (redis-benchmark)
  curl procps iproute2                              # demo and crash scripts
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
