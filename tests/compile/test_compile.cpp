// Compiler backends: each compiles the default spec and a matrix of specs for its targets;
// the code objects' metadata is checked (ISA, wave size, no scratch), not just success.
// A backend that is not installed is skipped with a printed reason, unless it is named in
// ROPEGEN_REQUIRE_BACKENDS (CI sets it, so there a missing compiler fails).
#include <doctest/doctest.h>

#include "backends.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "vendors/amd/amd.hpp"
#include "codegen/codegen.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "compile/inspect.hpp"
#include "common/process.hpp"
#include "jit/jit.hpp"
#include "verify/verify.hpp"

using namespace ropegen;

namespace {

using test::backend;
using test::required;
using test::usable;

const char* kMatrix[] = {
    "head_dim=128",
    "head_dim=128 dtype=f32 style=gptj cache=contiguous(order=hnd)",
    "head_dim=64 dtype=f16 cache=paged(block=32,order=hnd) index=i64",
    "op=rope head_dim=128 rotary_dim=64 style=gptj dtype=f16",
    "op=kv_append head_dim=256 kv_heads=4 dtype=f32 cache=contiguous(order=nhd)",
    "head_dim=96 rotary_dim=24 q_heads=8 kv_heads=1 cos_sin=compute(theta=500000,scaling=linear(factor=4))",
    "head_dim=64 rotary_dim=2 q_heads=4 kv_heads=4",
    // checks = bounds: the compare-and-swap of every vendor's prelude (atomicCAS, __atomic_*).
    "head_dim=128 checks=bounds",
    "op=rope head_dim=64 q_heads=4 kv_heads=4 cos_sin=compute checks=bounds",
};

void compile_matrix(const Compiler& c, const std::string& target_id, int wave) {
  const Target t = parse_target(target_id);
  for (const char* line : kMatrix) {
    std::string spec_text = std::string(line) + (wave ? " wave=" + std::to_string(wave) : "");
    CAPTURE(spec_text);
    CAPTURE(target_id);
    GeneratedSource g = generate(parse_spec_line(spec_text).spec, t);
    CodeObject co = c.compile(g, {});
    CHECK(co.backend == c.name());
    CHECK(co.target_id == t.id());
    CodeObjectInfo info = inspect(co);
    REQUIRE(info.kernels.size() == 1);
    const KernelResources& k = info.kernels[0];
    CHECK(k.name == g.entry);
    CHECK(k.scratch_bytes == 0);  // no spills, no stack
    if (t.vendor == Vendor::Amd) {
      CHECK(co.format == "hsaco");
      CHECK(info.isa.substr(0, info.isa.find(':')) == t.arch);
      CHECK(k.wave == g.plan.wave);
      // Block-shared memory only for computed cos/sin shared by four or more head groups.
      const KernelSpec& sp = g.spec;
      const bool shared_cs = sp.uses_rope() && sp.cos_sin.source == CosSinSource::Compute && g.plan.head_groups >= 4;
      CHECK(k.lds_bytes == (shared_cs ? 2 * g.plan.tokens_per_block * (sp.rotary_dim / 2) * 4 : 0));
      CHECK(k.spills == 0);
      CHECK(k.vgprs > 0);
      CHECK(k.max_threads == g.plan.block_threads);
      // The code object version is pinned by the backend and stated twice in the object.
      CHECK(info.code_object_version >= 4);
      CHECK(amd_elf_code_object_version(co.bytes) == info.code_object_version);
      CHECK(co.options.find("-mcode-object-version=" + std::to_string(info.code_object_version)) != std::string::npos);
      CHECK(co.backend_version.find("code object v" + std::to_string(info.code_object_version)) != std::string::npos);
    } else {
      CHECK(co.format == "cubin");
      CHECK(k.registers > 0);
    }
  }
}

// Waves per SIMD that the VGPR count allows: CDNA has 512 VGPRs per lane (granule 8, at
// most 8 waves); RDNA3 and RDNA4 (gfx1100, gfx1201) in wave32 have 1536 (granule 16 here, at
// most 16 waves; clang 19's own remark uses granule 24 there, which can differ by a wave
// below full occupancy but agrees on full: <= 96 VGPRs). On gfx90a and gfx942 AGPRs share
// that file, so they must stay unused for the count to hold. scripts/amd_quant_report.sh
// prints with the same rule.
int full_waves(const Target& t) { return t.default_wave == 64 ? 8 : 16; }
int waves_per_simd(const Target& t, int vgprs) {
  const bool cdna = t.default_wave == 64;
  const int file = cdna ? 512 : 1536, granule = cdna ? 8 : 16;
  const int alloc = (vgprs + granule - 1) / granule * granule;
  return std::min(full_waves(t), file / alloc);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("compile: hiprtc for gfx90a, gfx1030 and gfx906") {
  const Compiler* c = usable("hiprtc");
  if (!c) return;
  CHECK(c->supports(parse_target("gfx90a"), nullptr));
  CHECK(c->supports(parse_target("gfx1030"), nullptr));
  std::string why;
  // ROCm 5.2's comgr does not list gfx11: refused before hipRTC is called (it would abort).
  if (!c->supports(parse_target("gfx1100"), &why)) CHECK(why.find("does not list ISA gfx1100") != std::string::npos);
  compile_matrix(*c, "gfx90a", 0);
  // ROCm 5.2's hipRTC accepts -mcode-object-version= but always emits v4: it is asked for v4.
  if (c->version().find("libamdhip64.so.5") != std::string::npos) {
    GeneratedSource g = generate(parse_spec_line("").spec, parse_target("gfx90a"));
    CHECK(inspect(c->compile(g, {})).code_object_version == 4);
  }
  compile_matrix(*c, "gfx90a:sramecc+:xnack-", 0);
  // gfx906 (Vega 20): in comgr 5.2's list, so hipRTC builds it.
  if (c->supports(parse_target("gfx906"), &why)) {
    CodeObjectInfo info = inspect(c->compile(generate(parse_spec_line("head_dim=128").spec, parse_target("gfx906")), {}));
    CHECK(info.isa.substr(0, info.isa.find(':')) == "gfx906");
    REQUIRE(info.kernels.size() == 1);
    CHECK(info.kernels[0].wave == 64);
    CHECK(info.kernels[0].scratch_bytes == 0);
  } else {
    MESSAGE("hipRTC here does not list gfx906: " << why);
  }
  compile_matrix(*c, "gfx1030", 0);
  compile_matrix(*c, "gfx1030", 64);
}

TEST_CASE("compile: clang-amdgpu for gfx1100 (wave32 and wave64), gfx1101, gfx1102, gfx942") {
  const Compiler* c = usable("clang-amdgpu");
  if (!c) return;
  compile_matrix(*c, "gfx1100", 32);
  compile_matrix(*c, "gfx1100", 64);
  compile_matrix(*c, "gfx1101", 0);
  compile_matrix(*c, "gfx1102", 0);
  compile_matrix(*c, "gfx942", 0);
  compile_matrix(*c, "gfx90a:xnack-", 0);
}

TEST_CASE("compile: clang-amdgpu for the added targets (gfx906, gfx908, gfx1031/1032, gfx1103, gfx1150..1153, gfx1200/1201, gfx950)") {
  const Compiler* c = usable("clang-amdgpu");
  if (!c) return;
  for (const char* t : {"gfx906", "gfx908", "gfx1031", "gfx1032", "gfx1103", "gfx1150", "gfx1151", "gfx1152",
                        "gfx1153", "gfx1200", "gfx1201", "gfx950"}) {
    CAPTURE(t);
    const Target target = parse_target(t);
    std::string why;
    if (!c->supports(target, &why)) {
      // clang 19 knows neither gfx950 nor gfx1153 (LLVM 20 does): refused by name, never a
      // compiler crash. Every other target here must compile.
      CHECK((std::string(t) == "gfx950" || std::string(t) == "gfx1153"));
      CHECK(why.find(std::string("does not know ISA ") + t) != std::string::npos);
      continue;
    }
    GeneratedSource g = generate(parse_spec_line("head_dim=128").spec, target);
    CodeObject co = c->compile(g, {});
    CodeObjectInfo info = inspect(co);
    CHECK(info.isa.substr(0, info.isa.find(':')) == t);
    REQUIRE(info.kernels.size() == 1);
    CHECK(info.kernels[0].wave == target.default_wave);
    CHECK(info.kernels[0].scratch_bytes == 0);
    CHECK(info.code_object_version == amd_elf_code_object_version(co.bytes));
  }
}

TEST_CASE("compile: clang-amdgpu names its CDNA flag only in CDNA code objects, and their disk entries hit") {
  const Compiler* c = usable("clang-amdgpu");
  if (!c) return;
  const std::string note = "CDNA: -fno-slp-vectorize";
  CHECK(c->version().find(note) == std::string::npos);
  for (const char* t : {"gfx90a", "gfx942"}) CHECK(c->version_for(parse_target(t)).find(note) != std::string::npos);
  for (const char* t : {"gfx1030", "gfx1100", "gfx1201"})
    CHECK(c->version_for(parse_target(t)) == c->version());
  const std::string dir = detail::make_temp_dir("ropegen-clang-note");
  for (const char* t : {"gfx1100", "gfx942"}) {
    CAPTURE(t);
    const Target target = parse_target(t);
    JitOptions o;
    o.cache_dir = dir;
    o.compiler = "clang-amdgpu";
    const Build built = Jit(o).build(parse_spec_line("").spec, target);
    CHECK(built.origin == "compiled");
    CHECK((built.code->backend_version.find(note) != std::string::npos) == (std::string(t) == "gfx942"));
    CHECK(Jit(o).build(parse_spec_line("").spec, target).origin == "disk");  // matched on the same version text
  }
  detail::remove_tree(dir);
}

TEST_CASE("compile: clang-amdgpu code object version is pinned and a mismatch is caught") {
  const Compiler* c = usable("clang-amdgpu");
  if (!c) return;
  GeneratedSource g = generate(parse_spec_line("").spec, parse_target("gfx1100"));
  CodeObject co = c->compile(g, {});
  const int v = inspect(co).code_object_version;
  CHECK(co.options.find("-mcode-object-version=" + std::to_string(v)) != std::string::npos);
  if (c->version().find("clang version 19") != std::string::npos) CHECK(v == 5);
  check_amd_code_object(co, g, v);  // what was asked: no error
  const std::string mismatch = "code object version v" + std::to_string(v) + " in the ELF header and v" +
                               std::to_string(v) + " in the metadata (amdhsa.version), asked for v" +
                               std::to_string(v - 1);
  CHECK_THROWS_WITH_AS(check_amd_code_object(co, g, v - 1), doctest::Contains(mismatch.c_str()), Error);
  co.bytes[8] = static_cast<unsigned char>(co.bytes[8] - 1);  // EI_ABIVERSION says one version older
  CHECK_THROWS_WITH_AS(check_amd_code_object(co, g, v), doctest::Contains("in the ELF header and v"), Error);
  CHECK(amd_elf_code_object_version(co.bytes) == v - 1);
}

TEST_CASE("compile: nvrtc for sm_80 and sm_90, cubin and PTX") {
  const Compiler* c = usable("nvrtc");
  if (!c) return;
  compile_matrix(*c, "sm_80", 0);
  compile_matrix(*c, "sm_90", 0);
  GeneratedSource g = generate(parse_spec_line("").spec, parse_target("sm_90"));
  CodeObject ptx = c->compile(g, {{"--ptx"}});
  CHECK(ptx.format == "ptx");
  const std::string text(ptx.bytes.begin(), ptx.bytes.end());
  CHECK(text.find(".entry " + g.entry) != std::string::npos);
  CHECK(text.find("ld.global.v4") != std::string::npos);  // 16-byte vector loads
}

// Every spec the host runs in CI, compiled by NVRTC for sm_90: the host compiler accepts what
// NVRTC refuses (a zero-length array, for one), so the matrix alone would not catch it.
TEST_CASE("compile: nvrtc compiles every verification-matrix spec for sm_90") {
  const Compiler* c = usable("nvrtc");
  if (!c) return;
  const Target t = parse_target("sm_90");
  std::vector<std::string> specs;
  for (const MatrixCase& m : verification_matrix()) specs.push_back(m.spec);
  size_t compiled = 0;
  for (const std::string& line : specs) {
    CAPTURE(line);
    const KernelSpec spec = parse_spec_line(line).spec;
    if (!target_can_run(spec, t)) continue;
    CodeObject co;
    CHECK_NOTHROW(co = c->compile(generate(spec, t), {}));
    ++compiled;
  }
  MESSAGE(compiled << " of " << specs.size() << " matrix specs compiled for sm_90");
  CHECK(compiled > specs.size() / 2);
}

TEST_CASE("compile: ISA: the newer families on sm_90 and gfx942 use no local memory") {
  // Run-time selections (a row per frequency index, per-head scales, the fp8 stores) must
  // stay in registers: an indexed array that does not becomes local memory (scratch).
  const char* specs[] = {
      "cache_dtype=fp8_e4m3",
      "cache_dtype=fp8_e5m2 scales=per_head",
      "cache_dtype=fp8_e4m3 q_dtype=fp8_e4m3 outputs=separate",
      "qk_norm=rms(eps=1e-6)",
      "qk_norm=rms(eps=1e-6,gemma=true) cache_dtype=fp8_e4m3 style=gptj",
      "positions=mrope(sections=[16,24,24]) cos_sin=compute(theta=1000000)",
      "positions=imrope(sections=[24,20,20])",
      "angle=exact cos_sin=compute(theta=500000)",
      "rotary_dim=64 cos_sin=compute(scaling=dynamic(factor=4,original_max_position_embeddings=4096))",
      "heads=strided outputs=separate",
      "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj q_heads=128 cache_dtype=fp8_e4m3",
  };
  for (const auto& [backend, target] : {std::pair<const char*, const char*>{"nvrtc", "sm_90"}, {"clang-amdgpu", "gfx942"}}) {
    const Compiler* c = usable(backend);
    if (!c) continue;
    for (const char* text : specs) {
      const std::string where = std::string(target) + ": " + text;
      CAPTURE(where);
      const CodeObject co = c->compile(generate(parse_spec_line(text).spec, parse_target(target)), {});
      const CodeObjectInfo info = inspect(co);
      REQUIRE(info.kernels.size() == 1);
      CHECK(info.kernels[0].scratch_bytes == 0);
    }
  }
}

TEST_CASE("compile: the indexer family for sm_90, gfx942 (FNUZ) and gfx1200") {
  // One thread takes a whole 128-value row (a scale needs all of it) in passes that recompute
  // the values rather than hold them; no scratch check: the DeepSeek-V3.2 spec (deepseek_yarn,
  // ue8m0, layernorm) keeps 24 bytes of stack on sm_90 (docs/dsl.md, the indexer section).
  const std::string base = "op=indexer_append rotary_dim=64 q_heads=64 cache=paged(block=64) ";
  const char* variants[] = {
      "k_norm=layernorm scale_fmt=ue8m0 cos_sin=compute(theta=10000)",
      "style=gptj dtype=f16 k_quant=multiply k_cache_layout=tiled16",
  };
  for (const auto& [backend, target] : {std::pair<const char*, const char*>{"nvrtc", "sm_90"},
                                        {"clang-amdgpu", "gfx942"}, {"clang-amdgpu", "gfx1200"}}) {
    const Compiler* c = usable(backend);
    if (!c) continue;
    for (const char* v : variants) {
      // gfx942 stores e4m3 as FNUZ: the divisor must be named.
      const std::string text = base + v + (std::string(target) == "gfx942" ? " fp8_max=240" : "");
      CAPTURE(text);
      CAPTURE(target);
      const GeneratedSource g = generate(parse_spec_line(text).spec, parse_target(target));
      const CodeObject co = c->compile(g, {});
      const CodeObjectInfo info = inspect(co);
      REQUIRE(info.kernels.size() == 1);
      CHECK(info.kernels[0].name == g.entry);
    }
  }
}

TEST_CASE("compile: nvrtc for the added targets (sm_75, sm_90a, sm_100, sm_120)") {
  const Compiler* c = usable("nvrtc");
  if (!c) return;
  for (const char* arch : {"sm_75", "sm_90a", "sm_100", "sm_120"}) {
    CAPTURE(arch);
    std::string why;
    REQUIRE_MESSAGE(c->supports(parse_target(arch), &why), why);
    compile_matrix(*c, arch, 0);
    // The cubin says which architecture it is for.
    GeneratedSource g = generate(parse_spec_line("dtype=bf16").spec, parse_target(arch));
    CodeObject co = c->compile(g, {});
    CHECK(inspect(co).isa == arch);
  }
}

TEST_CASE("compile: nvrtc: nvfp4 recipe = trtllm takes rcp.approx.ftz.f32, recipe = exact does not") {
  const Compiler* c = usable("nvrtc");
  if (!c) return;
  for (const char* arch : {"sm_90", "sm_100a"}) {
    const Target t = parse_target(arch);
    for (const char* recipe : {"trtllm", "exact"}) {
      const std::string text = std::string("head_dim=128 q_heads=32 kv_heads=8 cache_dtype=nvfp4(recipe=") + recipe + ")";
      CAPTURE(arch);
      CAPTURE(text);
      const GeneratedSource g = generate(parse_spec_line(text).spec, t);
      CHECK((g.source.find("#define RG_RCP_APPROX 1") != std::string::npos) == (std::string(recipe) == "trtllm"));
      const CodeObject ptx = c->compile(g, {{"--ptx"}});
      const size_t n = count(std::string(ptx.bytes.begin(), ptx.bytes.end()), "rcp.approx.ftz.f32");
      if (std::string(recipe) == "trtllm") CHECK(n > 0);
      else CHECK(n == 0);
      const CodeObjectInfo info = inspect(c->compile(g, {}));
      CHECK(info.kernels.at(0).scratch_bytes == 0);
      MESSAGE(std::string(arch) << " " << std::string(recipe) << ": " << n << " rcp.approx.ftz.f32, " << info.kernels.at(0).registers << " registers");
    }
  }
  // The verifier's kernel of the instruction alone (codegen's rcp_approx_kernel).
  const GeneratedSource k = rcp_approx_kernel(parse_target("sm_90"));
  const CodeObject ptx = c->compile(k, {{"--ptx"}});
  CHECK(count(std::string(ptx.bytes.begin(), ptx.bytes.end()), "rcp.approx.ftz.f32") == 1);
  CHECK(inspect(c->compile(k, {})).kernels.at(0).name == "rg_rcp_table");
}

TEST_CASE("compile: selection by target and the fallback note") {
  std::string note;
  if (backend("clang-amdgpu")->available(nullptr)) {
    const Compiler& c = select_compiler(parse_target("gfx1100"), "", &note);
    CHECK(c.name() == "clang-amdgpu");
    if (backend("hiprtc")->available(nullptr)) CHECK(note.find("hiprtc: comgr does not list ISA gfx1100") != std::string::npos);
  }
  CHECK(select_compiler(parse_target("host")).name() == "host-cxx");
  if (backend("nvrtc")->available(nullptr)) CHECK(select_compiler(parse_target("sm_90")).name() == "nvrtc");
  // A forced backend that cannot serve the target is a clear error, not a crash.
  try {
    select_compiler(parse_target("gfx1100"), "nvrtc");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("nvrtc: ") != std::string::npos);
    CHECK(e.kind() == ErrorKind::Compile);
  }
  try {
    select_compiler(parse_target("gfx1100"), "hiprtc");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("hiprtc") != std::string::npos);
  }
}

TEST_CASE("compile: a broken template surfaces the GPU compiler's log") {
  for (const char* name : {"clang-amdgpu", "nvrtc", "hiprtc"}) {
    const Compiler* c = usable(name);
    if (!c) continue;
    const char* target = std::string(name) == "nvrtc" ? "sm_90" : std::string(name) == "hiprtc" ? "gfx90a" : "gfx1100";
    override_template_for_testing("rope_common.h", "struct broken { int x = undefined_name_here; };\n");
    try {
      GeneratedSource g = generate(parse_spec_line("").spec, parse_target(target));
      c->compile(g, {});
      FAIL("no error from " << name);
    } catch (const Error& e) {
      const std::string w = e.what();
      CAPTURE(w);
      CHECK(e.kind() == ErrorKind::Compile);
      CHECK(w.find(std::string(name) + " failed to compile") != std::string::npos);
      CHECK(w.find("undefined_name_here") != std::string::npos);
      CHECK(w.find("options: ") != std::string::npos);
      CHECK(w.find("target: ") != std::string::npos);
      CHECK(!e.context("source").empty());
    }
    override_template_for_testing("rope_common.h", "");
  }
}

TEST_CASE("compile: an error in a template names the template file and line (#line)") {
  // Line 3 of the family's template breaks; every compiler that can run here must say so.
  const std::string original = template_text("rope_kv.hip");
  const size_t second = original.find('\n', original.find('\n') + 1);
  override_template_for_testing("rope_kv.hip", original.substr(0, second + 1) + "int broken = undefined_name_here;\n" +
                                                   original.substr(second + 1));
  for (const char* name : {"host-cxx", "clang-amdgpu", "nvrtc"}) {
    const Compiler* c = usable(name);
    if (!c) continue;
    const char* target = std::string(name) == "nvrtc" ? "sm_90" : std::string(name) == "host-cxx" ? "host" : "gfx1100";
    try {
      c->compile(generate(parse_spec_line("").spec, parse_target(target)), {});
      FAIL("no error from " << name);
    } catch (const Error& e) {
      const std::string w = e.what();
      CAPTURE(w);
      // file:line (gcc, clang) or file(line) (NVRTC)
      CHECK((w.find("src/families/rope_kv/rope_kv.hip:3") != std::string::npos ||
             w.find("src/families/rope_kv/rope_kv.hip(3)") != std::string::npos));
    }
  }
  override_template_for_testing("rope_kv.hip", "");
}

TEST_CASE("compile: AMD ISA has 128-bit global loads and stores, no scratch (default spec)") {
  const Compiler* c = usable("clang-amdgpu");
  if (!c) return;
  const Compiler* h = usable("hiprtc");
  struct Case {
    const Compiler* backend;
    const char* target;
  };
  for (const Case& cs : {Case{c, "gfx1100"}, Case{c, "gfx942"}, Case{c, "gfx90a"}, Case{h, "gfx90a"}}) {
    if (!cs.backend) continue;
    const char* t = cs.target;
    CAPTURE(t);
    CAPTURE(cs.backend->name());
    GeneratedSource g = generate(parse_spec_line("head_dim=128").spec, parse_target(t));
    CodeObject co = cs.backend->compile(g, {});
    std::string isa;
    try {
      isa = disassemble(co);
    } catch (const Error& e) {
      MESSAGE("skipping ISA check: " << e.what());
      return;
    }
    const bool rdna = std::string(t) == "gfx1100";
    CHECK(isa.find(rdna ? "global_load_b128" : "global_load_dwordx4") != std::string::npos);
    CHECK(isa.find(rdna ? "global_store_b128" : "global_store_dwordx4") != std::string::npos);
    CHECK(isa.find("scratch_") == std::string::npos);
    CHECK(isa.find("buffer_store_dword") == std::string::npos);  // no private-memory spills
  }
}

TEST_CASE("compile: AMD register counts and occupancy of the default spec") {
  // Every AMD backend that can build the target, not only the one selected: each must give
  // full occupancy with no scratch (README, "AMD static figures").
  for (const char* t : {"gfx1100", "gfx942", "gfx90a"}) {
    const Target target = parse_target(t);
    int backends = 0;
    for (const char* name : {"hiprtc", "clang-amdgpu"}) {
      const Compiler* c = usable(name);
      std::string why;
      if (!c) continue;
      if (!c->supports(target, &why)) {
        MESSAGE("skipping " << std::string(t) << " with " << std::string(name) << ": " << why);
        continue;
      }
      ++backends;
      for (const char* d : {"bf16", "f16", "f32"}) {
        const std::string target_id = t, backend_name = name, dtype = d;
        CAPTURE(target_id);
        CAPTURE(backend_name);
        CAPTURE(dtype);
        GeneratedSource g = generate(parse_spec_line("head_dim=128 dtype=" + dtype).spec, target);
        const KernelResources k = inspect(c->compile(g, {})).kernels.at(0);
        const int w = waves_per_simd(target, k.vgprs);
        MESSAGE(target_id << " " << dtype << " (" << backend_name << "): " << k.vgprs << " VGPRs, "
                               << std::max(k.agprs, 0) << " AGPRs, " << k.sgprs << " SGPRs, scratch "
                               << k.scratch_bytes << " B -> " << w << " waves per SIMD");
        CHECK(k.scratch_bytes == 0);
        CHECK(k.spills <= 0);
        CHECK(k.agprs <= 0);  // -1: the metadata gives no count
        CHECK(w == full_waves(target));  // full occupancy
      }
    }
    if (backends == 0 && required("clang-amdgpu")) FAIL("no AMD backend builds " << t);
  }
}

namespace {

// The quantized caches of issue 21 (bf16, rope_kv_append, head_dim 128 unless named), and
// which fp8 encoding their fp8 codes use: none, the target's (OCP, else FNUZ: gfx942 FNUZ,
// gfx1201 OCP; gfx1100 has none and refuses the spec; an MLA record's e4m3 kv_c likewise),
// OCP only (nvfp4's e4m3 scales: integer code on gfx942) or FNUZ only (cache_dtype: refused
// where the target has no FNUZ). MLA records are refused nowhere: where the target has no
// converter for their format, their codes are integer code.
enum class Fp8 { None, TargetEncoding, Ocp, Fnuz };
struct QuantCase {
  const char* label;
  const char* spec;
  Fp8 fp8;
  bool integer;  // int8 / int4: int8 rounded by an add (no v_cvt_i32_f32), int4 truncated by v_cvt_u32_f32
  bool record;   // an MLA cache_record: never refused by target
};
#define RG_MLA_SPEC                                                                              \
  "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj q_heads=128 " \
  "kv_lora_rank=512 cache=paged(block=64) "
const QuantCase kQuantCases[] = {
    {"fp8_e4m3 per_tensor", "cache_dtype=fp8_e4m3", Fp8::TargetEncoding, false, false},
    // AMD paged attention's layouts with an fp8 cache (16 codes a piece; V's codes one byte each).
    {"fp8_e4m3 per_tensor, order = amd", "cache_dtype=fp8_e4m3 cache=paged(block=16,order=amd)", Fp8::TargetEncoding,
     false, false},
    {"fp8_e4m3 per_tensor, order = amd_shuffle", "cache_dtype=fp8_e4m3 cache=paged(block=16,order=amd_shuffle)",
     Fp8::TargetEncoding, false, false},
    {"int8 per_token_head, order = amd", "cache_dtype=int8 scales=per_token_head cache=paged(block=16,order=amd)",
     Fp8::None, true, false},
    {"fp8_e4m3 per_token_head, order = amd_shuffle",
     "cache_dtype=fp8_e4m3 scales=per_token_head cache=paged(block=16,order=amd_shuffle)", Fp8::TargetEncoding, false,
     false},
    {"fp8_e4m3 per_token_head", "cache_dtype=fp8_e4m3 scales=per_token_head", Fp8::TargetEncoding, false, false},
    {"fp8_e4m3fnuz per_token_head", "cache_dtype=fp8_e4m3fnuz scales=per_token_head", Fp8::Fnuz, false, false},
    {"int8 per_token_head", "cache_dtype=int8 scales=per_token_head", Fp8::None, true, false},
    {"int4 per_token_head", "cache_dtype=int4 scales=per_token_head", Fp8::None, true, false},
    {"nvfp4", "cache_dtype=nvfp4", Fp8::Ocp, false, false},
    {"mxfp4", "cache_dtype=mxfp4", Fp8::None, false, false},
    {"q fp8_e4m3 q_scales=per_token_head", "q_dtype=fp8_e4m3 q_scales=per_token_head outputs=separate",
     Fp8::TargetEncoding, false, false},
    {"MLA fp8_ds_mla", RG_MLA_SPEC "cache_record=fp8_ds_mla", Fp8::TargetEncoding, false, true},
    {"MLA fp8_ds_mla as e4m3fnuz, qmax 224",
     RG_MLA_SPEC "cache_record=record(parts=[kv_c(format=fp8_e4m3fnuz,group=128,qmax=224,floor=1.1754943508222875e-38,"
                 "quantize=divide),scales(of=kv_c),k_pe(format=auto)],size=656)",
     Fp8::Fnuz, false, true},
    {"MLA fp8 kv_c, e4m3 k_pe / k_scale",
     RG_MLA_SPEC "cache_record=record(parts=[kv_c(format=fp8_e4m3,group=128,qmax=448,floor=1.1754943508222875e-38,"
                 "quantize=divide),scales(of=kv_c),k_pe(format=fp8_e4m3,scale=k_scale)],size=592)",
     Fp8::TargetEncoding, false, true},
    {"MLA nvfp4 kv_c, e4m3 k_pe unscaled (352 B)",
     RG_MLA_SPEC "cache_record=record(parts=[kv_c(format=nvfp4),k_pe(format=fp8_e4m3,scale=none),scales(of=kv_c)],"
                 "size=352)",
     Fp8::TargetEncoding, false, true},  // k_pe's e4m3 in the target's encoding (nvfp4's scales OCP)
    {"MLA nvfp4_ds_mla", RG_MLA_SPEC "cache_record=nvfp4_ds_mla", Fp8::TargetEncoding, false, true},
    {"nvfp4 head_dim 64", "head_dim=64 cache_dtype=nvfp4", Fp8::Ocp, false, false},
    {"nvfp4 head_dim 256", "head_dim=256 cache_dtype=nvfp4", Fp8::Ocp, false, false},
    {"int4 head_dim 64", "head_dim=64 cache_dtype=int4 scales=per_token_head", Fp8::None, true, false},
    {"int4 head_dim 256", "head_dim=256 cache_dtype=int4 scales=per_token_head", Fp8::None, true, false},
    // Inline scales: per page (nvfp4), after each row (int8: 132-byte rows, split code stores).
    {"nvfp4 scales_at=page", "cache_dtype=nvfp4(scales_at=page)", Fp8::Ocp, false, false},
    {"int8 scales_at=row", "cache_dtype=int8(scales_at=row) scales=per_token_head", Fp8::None, true, false},
};
#undef RG_MLA_SPEC


}  // namespace

TEST_CASE("compile: AMD quantized caches (issue 21): no scratch, full occupancy, hardware fp8 conversions") {
  const Compiler* c = usable("clang-amdgpu");
  if (!c) return;
  int compiled = 0, refused = 0;
  for (const char* t : {"gfx942", "gfx1100", "gfx1201"}) {
    const Target target = parse_target(t);
    std::string why;
    if (!c->supports(target, &why)) {
      MESSAGE("skipping " << std::string(t) << " with clang-amdgpu: " << why);
      continue;
    }
    const bool fnuz = std::string(t) == "gfx942", ocp = std::string(t) == "gfx1201";
    for (const QuantCase& q : kQuantCases) {
      const std::string where = std::string(t) + ": " + q.label;
      CAPTURE(where);
      // The formats that need an fp8 encoding the target lacks are refused by name.
      const bool refuse =
          !q.record && ((q.fp8 == Fp8::TargetEncoding && !fnuz && !ocp) || (q.fp8 == Fp8::Fnuz && !fnuz));
      const ParsedSpec p = parse_spec_line(q.spec);
      if (refuse) {
        CHECK_THROWS_WITH_AS(check_target(p, target), doctest::Contains("does not have"), Error);
        ++refused;
        continue;
      }
      check_target(p, target);
      const GeneratedSource g = generate(p.spec, target);
      const CodeObject co = c->compile(g, {});
      ++compiled;
      const KernelResources k = inspect(co).kernels.at(0);
      const int w = waves_per_simd(target, k.vgprs);
      MESSAGE(where << ": " << k.vgprs << " VGPRs, " << std::max(k.agprs, 0) << " AGPRs, " << k.sgprs
                    << " SGPRs, scratch " << k.scratch_bytes << " B -> " << w << " of " << full_waves(target)
                    << " waves per SIMD");
      CHECK(k.scratch_bytes == 0);
      CHECK(k.spills <= 0);
      CHECK(k.agprs <= 0);
      CHECK(w == full_waves(target));  // full occupancy (CDNA: 8-byte vectors, codegen's plan)
      std::string isa;
      try {
        isa = disassemble(co);
      } catch (const Error& e) {
        MESSAGE("skipping ISA check: " << e.what());
        continue;
      }
      // fp8 codes: the packed hardware conversion where the target has the encoding, integer
      // code elsewhere; every format here is e4m3, so no bf8 conversion anywhere.
      const bool hw = (q.fp8 == Fp8::TargetEncoding && (fnuz || ocp)) || (q.fp8 == Fp8::Ocp && ocp) ||
                      (q.fp8 == Fp8::Fnuz && fnuz);
      const size_t fp8 = count(isa, "v_cvt_pk_fp8_f32"), bf8 = count(isa, "v_cvt_pk_bf8_f32");
      MESSAGE(where << ": " << fp8 << " v_cvt_pk_fp8_f32, " << count(isa, "v_cvt_i32_f32") << " v_cvt_i32_f32");
      CHECK((fp8 > 0) == hw);
      CHECK(bf8 == 0);
      if (q.integer) {  // int8 (rne): the code is the low byte of t + 1.5 * 2^23; int4 (rha): t + 0.5, truncated
        const bool int8 = std::string(q.label).rfind("int8", 0) == 0;
        if (int8) CHECK(count(isa, "v_cvt_i32_f32") == 0);
        else CHECK(count(isa, "v_cvt_u32_f32") >= size_t(p.spec.head_dim / g.plan.lanes_per_head));  // one per code of a lane's row
      }
      CHECK(isa.find("scratch_") == std::string::npos);
      CHECK(isa.find("buffer_store_dword") == std::string::npos);
    }
  }
  MESSAGE("quantized caches: " << compiled << " kernels compiled, " << refused << " refused by target");
}
