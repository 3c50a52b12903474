#!/usr/bin/env bash
# Installs everything ropegen needs to build and test from Debian 12's packages.
# Idempotent: packages already present are left as they are.
set -euo pipefail
packages=(
  cmake make g++            # build
  libcli11-dev              # command-line parsing (ropegen CLI)
  doctest-dev               # test framework
  nlohmann-json3-dev        # JSON: --json output, cache entry headers, AMDGPU metadata (msgpack)
  clang-19 lld-19           # clang-amdgpu backend: AMDGPU code objects for any ISA LLVM knows
  llvm-19                   # llvm-objdump: --disasm and the ISA checks for AMD
  libclang-rt-19-dev        # libFuzzer, ASan and UBSan runtimes for clang 19 (the fuzz stage of .ci/run)
  libamdhip64-5             # hipRTC and the HIP runtime (ROCm 5.2), loaded with dlopen (no headers needed)
  libamd-comgr2             # comgr: the ISA list checked before calling hipRTC
  libhiprtc-builtins5       # headers hipRTC compiles against
  rocm-device-libs          # device bitcode hipRTC links by default
  python3-setuptools        # builds the Python package (python/setup.py), offline: pip --no-build-isolation
  python3-pip               # pip install ./python
  python3-venv              # the python_install test installs the package into a fresh venv
  python3-numpy             # Python tests: reference model and NumPy arrays (__array_interface__, DLPack)
  python3-torch             # Python tests: PyTorch tensors, bf16, the custom operator (1.13 on Debian 12, CPU)
  libtorch-dev              # PyTorch's C++ headers (python3-torch only recommends them): the Python package's
                            # optional C++ fast path (python/ropegen/csrc/fast.cpp) is built and tested with them
  python3-pytest            # runs python/tests (CTest falls back to unittest without it)
)
# Rust: the crates in rust/ and the examples build offline with Debian's cargo (rustc 1.63,
# the oldest Rust they promise), installed always: CI builds with it (/usr/bin/cargo, see
# .ci/run). Elsewhere CMake prefers a rustup cargo (~/.cargo/bin) when there is one.
packages+=(cargo)           # cargo + rustc: `cargo test` of rust/, the Rust examples
packages+=(pkg-config)      # ropegen-sys finds an installed ropegen_c with it
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
