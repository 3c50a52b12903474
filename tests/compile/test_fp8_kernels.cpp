// fp8 converters inside kernels: templates/fp8.h with each vendor's convert_fp8_*.h,
// wrapped as a kernel body (wrap_kernel_body) the way emit() pastes them.
//   "fp8 kernels: ISA": compiles for sm_90 (nvrtc), gfx942 and gfx1201 (clang-amdgpu,
//   hiprtc where installed) and checks that the hardware conversions are used.
//   "fp8 kernels: run": every float bit pattern through the dispatched encoders and the
//   integer code in one kernel, mismatches counted, on the runtime ROPEGEN_TEST_RUNTIME
//   names (host by default: a smaller range; cuda: all 2^32 patterns, hardware cvt vs
//   integer code). Without a device it prints why and exits 77.
#include <doctest/doctest.h>

#include "backends.hpp"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "codegen/codegen.hpp"
#include "compile/compile.hpp"
#include "compile/inspect.hpp"
#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"
#include "pattern_sweep.hpp"
#include "skip.hpp"

using namespace ropegen;

namespace {

/// What emit() pastes for fp8: the vendor's hardware encoders, then the portable header.
std::string fp8_headers(const Target& t) {
  std::string s;
  if (t.vendor == Vendor::Nvidia) s += template_text("convert_fp8_nvidia.h");
  if (t.vendor == Vendor::Amd) s += template_text("convert_fp8_amd.h");
  return s + template_text("fp8.h");
}

// Converts pairs of floats with each format's packed encoder.
const char* kConvert = R"(
RG_KERNEL(64) rg_fp8_convert(ropegen_kernel_args a) {
  const int i = rg_block_x() * 64 + rg_thread_x();
  const float* in = static_cast<const float*>(a.v);
  unsigned* out = static_cast<unsigned*>(a.q);
  const float x = in[2 * i], y = in[2 * i + 1];
  out[4 * i + 0] = rg_fp8_encode2_e4m3(x, y);
  out[4 * i + 1] = rg_fp8_encode2_e5m2(x, y);
  out[4 * i + 2] = rg_fp8_encode2_e4m3fnuz(x, y);
  out[4 * i + 3] = rg_fp8_encode2_e5m2fnuz(x, y);
}
)";

// Thread g of the launch covers patterns [first + g * PER, + PER): the dispatched encoders
// (hardware where the target has it) against the integer code, for all four formats.
// Writes per thread: the mismatch count and the last mismatching pattern.
const char* kCompare = R"(
RG_KERNEL(256) rg_fp8_compare(ropegen_kernel_args a) {
  const unsigned per = static_cast<unsigned>(a.v_stride);
  const unsigned g = static_cast<unsigned>(rg_block_x()) * 256u + static_cast<unsigned>(rg_thread_x());
  const unsigned first = static_cast<unsigned>(a.max_seq) + g * per;
  unsigned bad = 0, where = 0;
  for (unsigned k = 0; k < per; k += 2) {
    const float x = rg_as_float(first + k), y = rg_as_float(first + k + 1);
    const unsigned d[4] = {rg_fp8_encode2_e4m3(x, y), rg_fp8_encode2_e5m2(x, y), rg_fp8_encode2_e4m3fnuz(x, y),
                           rg_fp8_encode2_e5m2fnuz(x, y)};
    const unsigned s[4] = {
        rg_fp8_soft_encode<RG_FP8_E4M3>(x) | rg_fp8_soft_encode<RG_FP8_E4M3>(y) << 8,
        rg_fp8_soft_encode<RG_FP8_E5M2>(x) | rg_fp8_soft_encode<RG_FP8_E5M2>(y) << 8,
        rg_fp8_soft_encode<RG_FP8_E4M3FNUZ>(x) | rg_fp8_soft_encode<RG_FP8_E4M3FNUZ>(y) << 8,
        rg_fp8_soft_encode<RG_FP8_E5M2FNUZ>(x) | rg_fp8_soft_encode<RG_FP8_E5M2FNUZ>(y) << 8};
    for (int f = 0; f < 4; ++f)
      if (d[f] != s[f]) {
        ++bad;
        where = first + k;
      }
  }
  unsigned* out = static_cast<unsigned*>(a.k_cache);
  out[2 * g] = bad;
  out[2 * g + 1] = where;
}
)";

LaunchPlan plan_for(const Target& t, int threads) {
  LaunchPlan plan;
  plan.wave = t.default_wave;
  plan.block_threads = threads;
  plan.tokens_per_block = 1;
  plan.head_groups = 1;
  plan.num_tasks = 1;
  return plan;
}

KernelSpec arg_spec() {
  return parse_spec_line("op=rope head_dim=64 q_heads=1 kv_heads=1 cos_sin=compute(theta=10000)").spec;
}

GeneratedSource wrap(const char* body, const std::string& entry, const Target& t, int threads) {
  return wrap_kernel_body(fp8_headers(t) + body, entry, t, plan_for(t, threads), arg_spec());
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("fp8 kernels: ISA: hardware conversions on sm_90, gfx942 (FNUZ) and gfx1201 (OCP)") {
  int compiled = 0;
  // sm_90: cvt.rn.satfinite for the OCP formats; FNUZ in integer code.
  if (const Compiler* c = test::usable("nvrtc")) {
    const Target t = parse_target("sm_90");
    const GeneratedSource g = wrap(kConvert, "rg_fp8_convert", t, 64);
    c->compile(g, {});  // the cubin: ptxas takes the instructions
    const CodeObject ptx = c->compile(g, {{"--ptx"}});
    const std::string text(ptx.bytes.begin(), ptx.bytes.end());
    CHECK(count(text, "cvt.rn.satfinite.e4m3x2.f32") == 1);
    CHECK(count(text, "cvt.rn.satfinite.e5m2x2.f32") == 1);
    MESSAGE("sm_90 PTX: " << count(text, "cvt.rn.satfinite.e4m3x2.f32") << " cvt.rn.satfinite.e4m3x2.f32, "
                          << count(text, "cvt.rn.satfinite.e5m2x2.f32") << " cvt.rn.satfinite.e5m2x2.f32");
    try {
      const std::string sass = disassemble(c->compile(g, {}));
      CHECK(sass.find("F2FP") != std::string::npos);
    } catch (const Error& e) {
      MESSAGE("no SASS check: " << std::string(e.what()));
    }
    // sm_80 has no fp8 conversions: the same body compiles to integer code.
    const CodeObject ptx80 = c->compile(wrap(kConvert, "rg_fp8_convert", parse_target("sm_80"), 64), {{"--ptx"}});
    CHECK(std::string(ptx80.bytes.begin(), ptx80.bytes.end()).find("satfinite") == std::string::npos);
    compiled += 3;
  }
  struct Case {
    const char* backend;
    const char* target;
    size_t hw;  // packed conversions expected per instruction: 1, or 0 without fp8 hardware
  };
  for (const Case& cs : {Case{"clang-amdgpu", "gfx942", 1}, Case{"clang-amdgpu", "gfx1201", 1},
                         Case{"hiprtc", "gfx942", 1}, Case{"clang-amdgpu", "gfx90a", 0}, Case{"hiprtc", "gfx90a", 0}}) {
    const std::string where = std::string(cs.backend) + " " + cs.target;
    CAPTURE(where);
    const Compiler* c = test::usable(cs.backend);
    if (!c) continue;
    const Target t = parse_target(cs.target);
    std::string why;
    if (!c->supports(t, &why)) {  // e.g. the hipRTC of ROCm 5.2 predates gfx942
      MESSAGE("skipping " << where << ": " << why);
      continue;
    }
    const CodeObject co = c->compile(wrap(kConvert, "rg_fp8_convert", t, 64), {});
    ++compiled;
    std::string isa;
    try {
      isa = disassemble(co);
    } catch (const Error& e) {
      MESSAGE("skipping ISA check: " << std::string(e.what()));
      continue;
    }
    // One packed conversion per format the target converts in hardware (FNUZ on gfx942,
    // OCP on gfx1201); the other two formats, and every format on gfx90a, are integer code.
    const size_t fp8 = count(isa, "v_cvt_pk_fp8_f32"), bf8 = count(isa, "v_cvt_pk_bf8_f32");
    MESSAGE(where << " ISA: " << fp8 << " v_cvt_pk_fp8_f32, " << bf8 << " v_cvt_pk_bf8_f32");
    CHECK(fp8 == cs.hw);
    CHECK(bf8 == cs.hw);
    CHECK(isa.find("scratch_") == std::string::npos);
  }
  MESSAGE("compiled " << compiled << " fp8 converter kernels for GPU targets");
}

TEST_CASE("fp8 kernels: run: dispatched encoders equal the integer code for every float bit pattern") {
  const char* r = std::getenv("ROPEGEN_TEST_RUNTIME");
  const std::string name = r && *r ? r : "host";
  std::unique_ptr<Runtime> rt;
  try {
    rt = open_runtime(name);
  } catch (const Error& e) {
    ropegen_test::skip_for_device("fp8 kernels on runtime '" + name + "': " + e.what());
    return;
  }
  const Target t = rt->target();
  auto k = rt->load(select_compiler(t).compile(wrap(kCompare, "rg_fp8_compare", t, 256), {}));
  // Host: the integer code against itself, so only the kernel path is checked.
  const bool gpu = t.vendor != Vendor::Host;
  const ropegen_test::SweepResult sweep = ropegen_test::run_pattern_sweep(*rt, *k, gpu);
  const long long bad = sweep.bad;
  CAPTURE(sweep.last);
  CHECK(bad == 0);
  MESSAGE("fp8 kernels on " << rt->device_name() << " (" << t.id() << "): " << sweep.patterns
                            << " float patterns x 4 formats, dispatched vs integer code, " << bad << " mismatches");
}

TEST_CASE("fp8 kernels: ISA: the fused kernels use the hardware conversions, no scratch") {
  // The generated kernels themselves (rope_kv with an fp8 cache and qk_norm, MLA with an fp8
  // cache): gfx942 converts to FNUZ, gfx1201 to OCP, each with the packed instruction.
  const char* specs[] = {"head_dim=128 q_heads=32 kv_heads=8 cache_dtype=fp8_e4m3",
                         "head_dim=128 q_heads=32 kv_heads=8 cache_dtype=fp8_e5m2 scales=per_head qk_norm=rms(eps=1e-6)",
                         "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj q_heads=128 "
                         "cache_dtype=fp8_e4m3"};
  const Compiler* c = test::usable("clang-amdgpu");
  if (!c) return;
  for (const char* target : {"gfx942", "gfx1201"}) {
    for (const char* text : specs) {
      const std::string where = std::string(target) + ": " + text;
      CAPTURE(where);
      const KernelSpec spec = parse_spec_line(text).spec;
      const CodeObject co = c->compile(generate(spec, parse_target(target)), {});
      std::string isa;
      try {
        isa = disassemble(co);
      } catch (const Error& e) {
        MESSAGE("skipping ISA check: " << std::string(e.what()));
        return;
      }
      const bool e5m2 = spec.cache_dtype == StoreType::Fp8E5m2;
      const size_t n = count(isa, e5m2 ? "v_cvt_pk_bf8_f32" : "v_cvt_pk_fp8_f32");
      MESSAGE(where << ": " << n << (e5m2 ? " v_cvt_pk_bf8_f32" : " v_cvt_pk_fp8_f32"));
      CHECK(n > 0);
      CHECK(isa.find("scratch_") == std::string::npos);
    }
  }
}
