#!/usr/bin/env bash
# The engine example as a new user's machine sees it (CTest example_engine_rs):
# 1. `cargo build` with no ROPEGEN_LIB_DIR and no pkg-config, of a copy laid out as an engine
#    vendors the crates outside this repository (ropegen/, ropegen-sys/ with ropegen's source
#    in ropegen-sys/ropegen-src/, the engine beside them): ropegen-sys builds libropegen_c
#    from that bundled source with CMake and links it statically;
# 2. the binary needs no libropegen_c.so and carries no rpath;
# 3. a bundle made by `ropegen bundle` for the host target serves it read-only with
#    ROPEGEN_NO_COMPILE semantics (--bundle), without LD_LIBRARY_PATH and with no compiler
#    on PATH; then another model compiles on first use.
# Usage: run.sh CARGO ROPEGEN_CLI SOURCE_DIR CARGO_TARGET_DIR WORK_DIR
set -u
cargo="$1" cli="$2" src="$3" target="$4" work="$5"
fail() { echo "FAIL $*"; exit 1; }
# The vendored copy, rebuilt each run; cp -p keeps the files' times, so CMake and cargo
# rebuild only what changed since the last run.
v="$target/vendored"
rm -rf "$v" && mkdir -p "$v/engine-rs" "$v/ropegen-sys/ropegen-src/rust/ropegen-sys/tests" || fail "mkdir $v"
cp -rp "$src/rust/ropegen" "$v/" && cp -rp "$src/rust/ropegen-sys/Cargo.toml" "$src/rust/ropegen-sys/build.rs" \
  "$src/rust/ropegen-sys/src" "$v/ropegen-sys/" &&
  cp -rp "$src/CMakeLists.txt" "$src/src" "$src/include" "$src/templates" "$src/scripts" "$v/ropegen-sys/ropegen-src/" &&
  cp -p "$src/rust/ropegen-sys/tests/abi_probe.c" "$v/ropegen-sys/ropegen-src/rust/ropegen-sys/tests/" &&
  cp -rp "$src/examples/engine-rs/Cargo.toml" "$src/examples/engine-rs/src" "$v/engine-rs/" || fail "copying the crates"
sed -i 's|path = "../../rust/ropegen"|path = "../ropegen"|' "$v/engine-rs/Cargo.toml"
env -u ROPEGEN_LIB_DIR -u ROPEGEN_SOURCE_DIR -u LD_LIBRARY_PATH ROPEGEN_NO_PKG_CONFIG=1 CARGO_TARGET_DIR="$target" \
  "$cargo" build --offline --quiet --manifest-path "$v/engine-rs/Cargo.toml" || fail "cargo build"
grep -rq "static (built from $v/ropegen-sys/ropegen-src)" "$target"/debug/build/ropegen-sys-*/output ||
  fail "ropegen-sys did not build from the bundled source $v/ropegen-sys/ropegen-src"
echo "ok built from the bundled source in $v/ropegen-sys/ropegen-src"
bin="$target/debug/engine-rs"
dyn=$(readelf -d "$bin") || fail "readelf -d $bin"
if grep -E "libropegen|RPATH|RUNPATH" <<<"$dyn"; then fail "$bin links libropegen_c dynamically or has an rpath"; fi
echo "ok static link: $(grep -c NEEDED <<<"$dyn") NEEDED entries, none of them ropegen, no rpath"
rm -rf "$work" && mkdir -p "$work/empty" && chmod 700 "$work" "$work/empty"
"$cli" bundle --arch host --spec "$src/models/llama-3.1-8b.rg" -o "$work/prebuilt" >/dev/null || fail "ropegen bundle"
out=$(env -u LD_LIBRARY_PATH PATH=/nonexistent ROPEGEN_CACHE_DIR="$work/empty" \
  "$bin" --model "$src/models/llama-3.1-8b.rg" --runtime host --bundle "$work/prebuilt" 2>&1)
echo "$out"
grep -q "(bundle, " <<<"$out" && grep -q "^engine OK$" <<<"$out" || fail "engine from the bundle"
# Without the bundle and with a model the bundle lacks: compiled on first use.
out=$(env -u LD_LIBRARY_PATH ROPEGEN_CACHE_DIR="$work/empty" \
  "$bin" --model "$src/models/mistral-7b.rg" --runtime host --layers 2 --prefill 40 --decode 2 2>&1)
echo "$out"
grep -q "(compiled, " <<<"$out" && grep -q "^engine OK$" <<<"$out" || fail "engine compiling mistral-7b"
# A bundle that lacks the kernel is an error naming the key, not a compile (the user cache,
# which now holds mistral-7b, is not read with --bundle).
out=$(env -u LD_LIBRARY_PATH ROPEGEN_CACHE_DIR="$work/empty" \
  "$bin" --model "$src/models/mistral-7b.rg" --runtime host --bundle "$work/prebuilt" 2>&1)
[ $? -ne 0 ] && grep -q "ROPEGEN_NO_COMPILE is set and no cache entry exists" <<<"$out" || { echo "$out"; fail "bundle miss"; }
echo "ok bundle miss refused: $(grep -m1 "engine-rs:" <<<"$out")"
