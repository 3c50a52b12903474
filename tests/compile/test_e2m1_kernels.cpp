// The e2m1 conversion instruction (cvt.rn.satfinite.e2m1x2.f32, PTX ISA 8.6) in kernels:
//   "e2m1 kernels: nvrtc": nvfp4 and mxfp4 caches and MLA records generated for sm_100a and
//   sm_120a (caps hw_e2m1) have the instruction in their PTX and assemble to cubins for that
//   architecture (NVRTC, and the toolkit's ptxas where it is installed); for sm_90, sm_100 and
//   sm_120 the same specs have none (integer code), and quantized stores without e2m1 codes
//   get no e2m1 header on any target. Runs under CTest's compile_nvrtc.
//   "e2m1 kernels: run": every float bit pattern, in the low and in the high nibble, through
//   quant.h's pair path (quant_codes2, nvfp4 and mxfp4 codecs) and the integer code
//   (rg_e2m1_encode) in one kernel, mismatches counted, on the runtime ROPEGEN_TEST_RUNTIME names. host (default):
//   2^20 patterns, the integer code's own path; cuda: all 2^32 patterns, the instruction
//   against the integer code, on a compute capability 10.0 or 12.0 GPU (compiled for sm_100a /
//   sm_120a); any other GPU, or none, and the test is skipped with the reason.
#include <doctest/doctest.h>

#include "backends.hpp"

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "codegen/codegen.hpp"
#include "common/process.hpp"
#include "compile/backend_util.hpp"
#include "compile/compile.hpp"
#include "compile/inspect.hpp"
#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"
#include "ropegen/spec.hpp"
#include "pattern_sweep.hpp"
#include "skip.hpp"

using namespace ropegen;

namespace {

const std::string kInstruction = "cvt.rn.satfinite.e2m1x2.f32";

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

#define RG_MLA_E2M1 \
  "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj q_heads=16 kv_lora_rank=512 cache=paged(block=64) "
// The stores with e2m1 codes: the cache formats (rope_kv_append, kv_append) and MLA records.
const char* const kE2m1Specs[] = {
    "head_dim=128 q_heads=32 kv_heads=8 cache_dtype=nvfp4",
    "head_dim=128 q_heads=32 kv_heads=8 cache_dtype=mxfp4",
    "head_dim=64 cache=paged(block=16,order=hnd) cache_dtype=nvfp4(v_scales=swizzled)",
    "op=kv_append head_dim=256 kv_heads=4 cache_dtype=mxfp4(scale_round=even)",
    RG_MLA_E2M1 "cache_record=record(parts=[kv_c(format=nvfp4),scales(of=kv_c),k_pe(format=auto)],size=416)",
    RG_MLA_E2M1 "cache_record=record(parts=[kv_c(format=nvfp4),k_pe(format=fp8_e4m3,scale=none),scales(of=kv_c)],"
                "size=352)",
    RG_MLA_E2M1 "cache_record=nvfp4_ds_mla",
    RG_MLA_E2M1 "cache_record=record(parts=[k_pe(format=auto),pad(bytes=16),scales(of=kv_c),kv_c(format=mxfp4,"
                "scale_round=floor)],size=416)",
};
#undef RG_MLA_E2M1

/// ptxas of the CUDA toolkit on `ptx` for `arch`: "" when it assembled, else why not;
/// `found` is false when there is no ptxas here.
std::string ptxas(const std::string& ptx, const std::string& arch, bool& found) {
  const std::string tool = detail::find_program(nullptr, {"ptxas", "/usr/local/cuda/bin/ptxas"});
  found = !tool.empty();
  if (!found) return "";
  const std::string dir = detail::make_temp_dir("ropegen-e2m1-test");
  std::ofstream(dir + "/k.ptx", std::ios::binary) << ptx;
  const detail::ProcessResult r = detail::run_process({tool, "-arch=" + arch, dir + "/k.ptx", "-o", dir + "/k.cubin"});
  detail::remove_tree(dir);
  return r.exit_code == 0 ? "" : "exit " + std::to_string(r.exit_code) + ": " + r.error + r.output;
}

// Thread g covers patterns [first + g * PER, + PER): each pattern x is coded as the first
// element of a pair with -x (its sign flipped) as the second, so every pattern passes through
// both nibbles, by the codec's pair path (quant_codes2 of an mxfp4 and an nvfp4 codec with the
// scale 1: the instruction where RG_E2M1_HW is defined) and by the integer code. Writes per
// thread: the mismatch count and the last mismatching pattern.
const char* kCompare = R"(
RG_KERNEL(256) rg_e2m1_compare(ropegen_kernel_args a) {
  const unsigned per = static_cast<unsigned>(a.v_stride);
  const unsigned g = static_cast<unsigned>(rg_block_x()) * 256u + static_cast<unsigned>(rg_thread_x());
  const unsigned first = static_cast<unsigned>(a.max_seq) + g * per;
  constexpr rg_codec mx = {5, 4, 32, 0, 0, 0.0f, 0.0f, 0, 1, 0}, nv = {4, 4, 16, 0, 0, 0.0f, 0.0f, 0, 1, 0};
  const rg_kernel::QuantScale one{1.0f, 0.0f, 0.0f, 0u, rg_kernel::rg_divisor{1.0f, 1.0f, true}};
  unsigned bad = 0, where = 0;
  for (unsigned k = 0; k < per; ++k) {
    const float x = rg_as_float(first + k), y = rg_as_float((first + k) ^ 0x80000000u);
    unsigned c0, c1, n0, n1;
    rg_kernel::quant_codes2(mx, one, x, y, c0, c1);
    rg_kernel::quant_codes2(nv, one, x, y, n0, n1);
    const unsigned s0 = rg_kernel::rg_e2m1_encode(x), s1 = rg_kernel::rg_e2m1_encode(y);
    if (c0 != s0 || c1 != s1 || n0 != s0 || n1 != s1) {
      ++bad;
      where = first + k;
    }
  }
  unsigned* out = static_cast<unsigned*>(a.k_cache);
  out[2 * g] = bad;
  out[2 * g + 1] = where;
}
)";

/// What emit() pastes before the kernel for a quantized store: the vendor's fp8 headers, the
/// e2m1 header after RG_E2M1_HW where the target's caps have hw_e2m1, then quant.h.
std::string quant_headers(const Target& t) {
  std::string s;
  const Dialect& d = dialect_for(t.vendor);
  for (const auto& h : d.fp8_headers) s += template_text(h);
  if (t.caps.hw_e2m1) s += "#define RG_E2M1_HW 1\n" + template_text(d.e2m1_header);
  return s + template_text("quant.h");
}

/// kCompare for a target, wrapped the way emit() wraps a body.
GeneratedSource compare_kernel(const Target& t) {
  LaunchPlan plan;
  plan.wave = t.default_wave;
  plan.block_threads = 256;
  const KernelSpec spec = parse_spec_line("op=rope head_dim=64 q_heads=1 kv_heads=1 cos_sin=compute(theta=10000)").spec;
  return wrap_kernel_body(quant_headers(t) + kCompare, "rg_e2m1_compare", t, plan, spec);
}


}  // namespace

TEST_CASE("e2m1 kernels: nvrtc: the conversion instruction on sm_100a and sm_120a, integer code elsewhere") {
  const Compiler* c = test::usable("nvrtc");
  if (!c) return;
  int with = 0, without = 0, assembled = 0;
  for (const char* arch : {"sm_100a", "sm_120a", "sm_90", "sm_100", "sm_120"}) {
    const Target t = parse_target(arch);
    std::string why;
    REQUIRE_MESSAGE(c->supports(t, &why), why);
    const bool hw = t.caps.hw_e2m1;
    for (const char* text : kE2m1Specs) {
      const std::string where = std::string(arch) + ": " + text;
      CAPTURE(where);
      const ParsedSpec p = parse_spec_line(text);
      check_target(p, t);
      const GeneratedSource g = generate(p.spec, t);
      CHECK((g.source.find("#define RG_E2M1_HW 1") != std::string::npos) == hw);
      const CodeObject ptx = c->compile(g, {{"--ptx"}});
      std::string text_ptx(ptx.bytes.begin(), ptx.bytes.end());
      while (!text_ptx.empty() && text_ptx.back() == '\0') text_ptx.pop_back();  // NVRTC's PTX ends in a NUL
      CHECK(text_ptx.find(".target " + std::string(arch)) != std::string::npos);
      const size_t n = count(text_ptx, kInstruction);
      if (!hw) {
        CHECK(count(text_ptx, "e2m1x2") == 0);
        ++without;
        continue;
      }
      CHECK(n > 0);
      ++with;
      // Assembled: NVRTC's cubin (what ropegen loads), and the PTX through the toolkit's ptxas.
      const CodeObject co = c->compile(g, {});
      const CodeObjectInfo info = inspect(co);
      REQUIRE(info.kernels.size() == 1);
      CHECK(info.isa == arch);
      CHECK(info.kernels[0].scratch_bytes == 0);
      bool found = false;
      const std::string failed = ptxas(text_ptx, arch, found);
      CHECK_MESSAGE(failed.empty(), failed);
      if (found && failed.empty()) ++assembled;
      // The same spec on the base target, for the registers either way.
      const std::string base = std::string(arch).substr(0, std::string(arch).size() - 1);
      const CodeObjectInfo plain = inspect(c->compile(generate(p.spec, parse_target(base)), {}));
      MESSAGE(where << ": " << n << " " << kInstruction << ", " << info.kernels[0].registers << " registers ("
                    << base << ", integer code: " << plain.kernels.at(0).registers << ")");
    }
  }
  // The kernel of "e2m1 kernels: run" builds for the targets it runs on where a GPU has them.
  for (const char* arch : {"sm_100a", "sm_120a"}) {
    CAPTURE(arch);
    const GeneratedSource g = compare_kernel(parse_target(arch));
    const CodeObject ptx = c->compile(g, {{"--ptx"}});
    CHECK(count(std::string(ptx.bytes.begin(), ptx.bytes.end()), kInstruction) > 0);
    CHECK(inspect(c->compile(g, {})).isa == arch);
  }
  // Quantized stores without e2m1 codes get no e2m1 header, on the targets that have one too.
  for (const char* text : {"cache_dtype=int8 scales=per_token_head", "cache_dtype=fp8_e4m3 scales=per_token_head",
                           "cache_dtype=int4 scales=per_token_head"}) {
    CAPTURE(text);
    const GeneratedSource g = generate(parse_spec_line(text).spec, parse_target("sm_100a"));
    CHECK(g.source.find("RG_E2M1_HW 1") == std::string::npos);
    const CodeObject ptx = c->compile(g, {{"--ptx"}});
    CHECK(count(std::string(ptx.bytes.begin(), ptx.bytes.end()), "e2m1x2") == 0);
  }
  MESSAGE("e2m1: " << with << " kernels with " << kInstruction << " (sm_100a, sm_120a), " << without
                   << " without (sm_90, sm_100, sm_120); " << assembled << " also assembled by the toolkit's ptxas");
}


TEST_CASE("e2m1 kernels: run: the codec's pair path equals the integer code for every float bit pattern") {
  const char* r = std::getenv("ROPEGEN_TEST_RUNTIME");
  const std::string name = r && *r ? r : "host";
  std::unique_ptr<Runtime> rt;
  try {
    rt = open_runtime(name);
  } catch (const Error& e) {
    ropegen_test::skip_for_device("e2m1 kernels on runtime '" + name + "': " + e.what());
    return;
  }
  Target t = rt->target();
  const bool gpu = t.vendor != Vendor::Host;
  if (gpu) {
    // The GPU's own target is the plain one (sm_100, sm_120); its arch-specific target has
    // the instruction and runs on it.
    Target a;
    try {
      a = parse_target(t.arch + "a");
    } catch (const Error&) {
    }
    if (!a.caps.hw_e2m1) {
      ropegen_test::skip_for_device("e2m1 kernels: " + rt->device_name() +
                                    " has no e2m1 conversion instruction (it needs compute capability 10.0 or "
                                    "12.0: sm_100a, sm_120a)");
      return;
    }
    t = a;
  }
  auto k = rt->load(select_compiler(t).compile(compare_kernel(t), {}));
  const ropegen_test::SweepResult sweep = ropegen_test::run_pattern_sweep(*rt, *k, gpu);
  const long long bad = sweep.bad;
  CAPTURE(sweep.last);
  CHECK(bad == 0);
  MESSAGE("e2m1 kernels on " << rt->device_name() << " (" << t.id() << std::string(t.caps.hw_e2m1 ? ", instruction" : ", integer code")
                             << "): " << sweep.patterns << " float patterns in each nibble, " << bad
                             << " mismatches");
}
