// Numerics: the generated kernels themselves against the independent double-precision
// reference over the verification matrix (src/verify/matrix.cpp).
//   ROPEGEN_TEST_RUNTIME=host (default): compiled by the host C++ compiler, run on the CPU.
//   ROPEGEN_TEST_RUNTIME=cuda: compiled by NVRTC, run on the GPU; skipped with a printed
//   reason where there is no NVIDIA driver or device.
//   ROPEGEN_TEST_SHARD=i/n runs every n-th case from i.
//   ROPEGEN_TEST_FILTER=text runs only the cases whose spec or note contains the text.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "jit/jit.hpp"
#include "ropegen/ropegen.hpp"
#include "skip.hpp"
#include "verify/verify.hpp"

using namespace ropegen;

namespace {

std::string runtime_name() {
  const char* r = std::getenv("ROPEGEN_TEST_RUNTIME");
  return r && *r ? r : "host";
}

/// The context for the selected runtime, or null (with the reason printed) if it has no device.
Context* context() {
  static std::unique_ptr<Context> ctx;
  static std::string why;
  static bool tried = false;
  if (!tried) {
    tried = true;
    try {
      JitOptions o = JitOptions::from_env();
      ctx = Context::open(runtime_name(), -1, o);
      std::printf("numerics on %s: %s\n", runtime_name().c_str(), ctx->runtime().device_name().c_str());
    } catch (const Error& e) {
      why = e.what();
      ropegen_test::skip_for_device("numerics on runtime '" + runtime_name() + "': " + why);
    }
  }
  return ctx.get();
}

bool in_shard(size_t index) {
  const char* env = std::getenv("ROPEGEN_TEST_SHARD");
  int shard = 0, count = 1;
  if (!env || std::sscanf(env, "%d/%d", &shard, &count) != 2 || count < 1) return true;
  return static_cast<int>(index % static_cast<size_t>(count)) == shard;
}

bool in_filter(const MatrixCase& c) {
  const char* env = std::getenv("ROPEGEN_TEST_FILTER");
  return !env || !*env || c.spec.find(env) != std::string::npos || c.note.find(env) != std::string::npos;
}

}  // namespace

TEST_CASE("numerics: the verification matrix against the reference") {
  Context* ctx = context();
  if (!ctx) return;
  const auto matrix = verification_matrix();
  size_t ran = 0;
  for (size_t i = 0; i < matrix.size(); ++i) {
    if (!in_shard(i) || !in_filter(matrix[i])) continue;
    const MatrixCase& c = matrix[i];
    CAPTURE(c.spec);
    CAPTURE(c.note);
    CAPTURE(c.vc.tokens);
    KernelSpec spec = parse_spec_line(c.spec).spec;
    if (!target_can_run(spec, ctx->target())) {
      MESSAGE("not on this target (wave, pdl, nvfp4 recipe): " << c.spec);
      continue;
    }
    auto kernel = ctx->kernel(spec);
    VerifyReport r = verify(ctx->runtime(), *kernel, c.vc);
    INFO(r.describe());
    CHECK(r.passed);
    long long rotated = 0;
    for (const auto& o : r.outputs) rotated += o.rounded;
    // A rope kernel changes some rows, except the first launch of the all-heads norm across
    // launches (sums = write), which writes only norm_sums (tests/api checks them).
    const bool sums_only = spec.qk_norm.on && spec.qk_norm.sums == NormSums::Write;
    if (spec.uses_rope() && !sums_only && c.vc.tokens > 0 && c.vc.padding < 1.0) CHECK(rotated > 0);
    ++ran;
  }
  MESSAGE("ran " << ran << " of " << matrix.size() << " matrix cases on " << runtime_name());
  CHECK(ran > 0);
}
