// Target table and target-id parsing (src/targets), and their errors.
#include <doctest/doctest.h>

#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"
#include "ropegen/target.hpp"

#include "expect_error.hpp"

using namespace ropegen;
using namespace ropegen::test;

TEST_CASE("target: known ids and their facts") {
  Target t = parse_target("gfx1100");
  CHECK(t.vendor == Vendor::Amd);
  CHECK(t.family == "RDNA3");
  CHECK(t.default_wave == 32);
  CHECK(t.supports_wave(64));
  Target c = parse_target("gfx90a");
  CHECK(c.default_wave == 64);
  CHECK_FALSE(c.supports_wave(32));
  Target n = parse_target("sm_90");
  CHECK(n.vendor == Vendor::Nvidia);
  CHECK(n.default_wave == 32);
  CHECK_FALSE(n.supports_wave(64));
  Target h = parse_target("host");
  CHECK(h.vendor == Vendor::Host);
  CHECK(h.supports_wave(32));
  CHECK(h.supports_wave(64));
}

TEST_CASE("target: features are normalised into sorted order") {
  CHECK(parse_target("gfx90a:xnack-:sramecc+").id() == "gfx90a:sramecc+:xnack-");
  CHECK(parse_target("gfx942:xnack+").id() == "gfx942:xnack+");
  CHECK(parse_target("gfx1030").id() == "gfx1030");
  CHECK(parse_target("gfx90a:sramecc+").features == std::vector<std::string>{"sramecc+"});
}

TEST_CASE("target: every table row parses to itself") {
  for (const auto& info : known_targets()) {
    CAPTURE(info.arch);
    Target t = parse_target(info.arch);
    CHECK(t.id() == info.arch);
    CHECK(t.supports_wave(t.default_wave));
  }
}

TEST_CASE("target: AMD GPUs of ROCm 6 and 7 (GCN5, CDNA, RDNA2/3/3.5/4) are in the table") {
  struct Row {
    const char* arch;
    const char* family;
    int wave;
  };
  for (const Row& r : {Row{"gfx906", "GCN5", 64}, Row{"gfx908", "CDNA", 64}, Row{"gfx950", "CDNA4", 64},
                       Row{"gfx1031", "RDNA2", 32}, Row{"gfx1032", "RDNA2", 32}, Row{"gfx1103", "RDNA3", 32},
                       Row{"gfx1150", "RDNA3.5", 32}, Row{"gfx1151", "RDNA3.5", 32}, Row{"gfx1152", "RDNA3.5", 32},
                       Row{"gfx1153", "RDNA3.5", 32},
                       Row{"gfx1200", "RDNA4", 32}, Row{"gfx1201", "RDNA4", 32}}) {
    CAPTURE(r.arch);
    const Target t = parse_target(r.arch);
    CHECK(t.vendor == Vendor::Amd);
    CHECK(t.family == r.family);
    CHECK(t.default_wave == r.wave);
    CHECK(t.supports_wave(64));
    CHECK(t.supports_wave(32) == (r.wave == 32));
  }
  CHECK(parse_target("gfx908:xnack-:sramecc+").id() == "gfx908:sramecc+:xnack-");
  CHECK(parse_target("gfx950:sramecc+").id() == "gfx950:sramecc+");
}

TEST_CASE("targets: capabilities are data (fp8 variants, conversion instructions)") {
  // Pinned from the vendors' ISA documents: fp8 cvt from sm_89 (PTX ISA 7.8); gfx942 has
  // the FNUZ encodings (MI300 ISA), gfx950 and gfx12 the OCP ones.
  CHECK(parse_target("sm_90").caps.fp8_ocp);
  CHECK(parse_target("sm_89").caps.hw_fp8);
  CHECK_FALSE(parse_target("sm_80").caps.fp8_ocp);
  CHECK(parse_target("gfx942").caps.fp8_fnuz);
  CHECK_FALSE(parse_target("gfx942").caps.fp8_ocp);
  CHECK(parse_target("gfx1201").caps.fp8_ocp);
  CHECK_FALSE(parse_target("gfx1100").caps.fp8_ocp);
  CHECK_FALSE(parse_target("gfx1100").caps.fp8_fnuz);
  CHECK(parse_target("host").caps.fp8_ocp);   // integer code: the host emulates both
  CHECK(parse_target("host").caps.fp8_fnuz);
  CHECK_FALSE(parse_target("host").caps.hw_fp8);
  CHECK(parse_target("gfx90a:xnack-").caps.hw_f16);
}

TEST_CASE("targets: NVIDIA sm_75, sm_90a, sm_100 and sm_120 with their capabilities") {
  struct Row {
    const char* arch;
    const char* family;
    bool fp8_ocp, hw_bf16;
  };
  for (const Row& r : {Row{"sm_75", "Turing", false, false}, Row{"sm_90a", "Hopper", true, true},
                       Row{"sm_100", "Blackwell", true, true}, Row{"sm_100a", "Blackwell", true, true},
                       Row{"sm_120", "Blackwell", true, true}, Row{"sm_120a", "Blackwell", true, true}}) {
    CAPTURE(r.arch);
    const Target t = parse_target(r.arch);
    CHECK(t.vendor == Vendor::Nvidia);
    CHECK(t.family == r.family);
    CHECK(t.default_wave == 32);
    CHECK(t.caps.fp8_ocp == r.fp8_ocp);  // OCP fp8 from sm_89
    CHECK(t.caps.hw_fp8 == r.fp8_ocp);
    CHECK(t.caps.hw_bf16 == r.hw_bf16);  // bf16 conversions from sm_80
    CHECK_FALSE(t.caps.fp8_fnuz);
  }
}

TEST_CASE("targets: the e2m1 conversion only on the arch-specific Blackwell targets") {
  // cvt.rn.satfinite.e2m1x2.f32 (PTX ISA 8.6) exists on sm_100a and sm_120a, not on the plain
  // sm_100 / sm_120 (code for those must run on later GPUs too) nor on any other target.
  for (const auto& info : known_targets()) {
    CAPTURE(info.arch);
    const std::string a = info.arch;
    CHECK(parse_target(a).caps.hw_e2m1 == (a == "sm_100a" || a == "sm_120a"));
  }
  // Everything else of the "a" targets is their base target's.
  for (const char* base : {"sm_100", "sm_120"}) {
    CAPTURE(base);
    const Target b = parse_target(base), a = parse_target(std::string(base) + "a");
    CHECK(a.family == b.family);
    CHECK(a.waves == b.waves);
    CHECK(a.caps.fp8_ocp == b.caps.fp8_ocp);
    CHECK(a.caps.hw_fp8 == b.caps.hw_fp8);
    CHECK(a.caps.hw_bf16 == b.caps.hw_bf16);
    CHECK(a.caps.pdl == b.caps.pdl);
    CHECK(a.id() == std::string(base) + "a");
  }
}

TEST_CASE("targets: unknown spellings suggest the target meant") {
  auto message = [](const std::string& text) {
    try {
      parse_target(text);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message("sm90").find("unknown target 'sm90'; did you mean 'sm_90'?") != std::string::npos);
  CHECK(message("SM_90").find("did you mean 'sm_90'?") != std::string::npos);
  CHECK(message("compute_80").find("did you mean 'sm_80'?") != std::string::npos);
  CHECK(message("gfx110").find("did you mean 'gfx1100', 'gfx1101', 'gfx1102' or 'gfx1103'?") != std::string::npos);
  CHECK(message("GFX90A").find("did you mean 'gfx90a'?") != std::string::npos);
  // The arch-specific targets: NVCC's and NVRTC's spellings, another case.
  CHECK(message("sm100a").find("did you mean 'sm_100a'?") != std::string::npos);
  CHECK(message("compute_120a").find("did you mean 'sm_120a'?") != std::string::npos);
  CHECK(message("SM_100A").find("did you mean 'sm_100a'?") != std::string::npos);
  CHECK(message("sm_10").find("did you mean 'sm_100' or 'sm_100a'?") != std::string::npos);
  CHECK(message("sm_100f").find("did you mean") == std::string::npos);  // family targets: not in the table
  // No guesses where there is nothing close: the list of known targets follows.
  CHECK(message("gfx1300").find("did you mean") == std::string::npos);
  CHECK(message("gfx1300").find("known targets: gfx906, gfx908") != std::string::npos);
}

TEST_CASE("errors: files and targets" * doctest::test_suite("errors")) {
  expect_error([] { load_spec_file("/nonexistent/x.rg"); }, ErrorKind::Io,
               "cannot open spec file '/nonexistent/x.rg'");
  expect_error([] { parse_target("gfx9000"); }, ErrorKind::Target,
               "unknown target 'gfx9000'; known targets: gfx906, gfx908, gfx90a, gfx942, gfx950, gfx1030");
  expect_error([] { parse_target(""); }, ErrorKind::Target, "unknown target ''");
  expect_error([] { parse_target("gfx90a:xnack"); }, ErrorKind::Target,
               "bad feature 'xnack' in target 'gfx90a:xnack': expected NAME+ or NAME-");
  expect_error([] { parse_target("gfx90a:wave64+"); }, ErrorKind::Target,
               "target gfx90a has no feature 'wave64'; valid features: sramecc, xnack");
  expect_error([] { parse_target("gfx1100:xnack-"); }, ErrorKind::Target,
               "target gfx1100 has no feature 'xnack' (it takes no features)");
  expect_error([] { parse_target("gfx90a:xnack-:xnack+"); }, ErrorKind::Target,
               "feature 'xnack' given twice");
}
