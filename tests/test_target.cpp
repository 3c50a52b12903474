// Target table and target-id parsing.
#include <doctest/doctest.h>

#include "ropegen/error.hpp"
#include "ropegen/target.hpp"

using namespace ropegen;

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

TEST_CASE("target: AMD GPUs of ROCm 6 and 7 (CDNA, RDNA2/3/3.5/4) are in the table") {
  struct Row {
    const char* arch;
    const char* family;
    int wave;
  };
  for (const Row& r : {Row{"gfx908", "CDNA", 64}, Row{"gfx950", "CDNA4", 64}, Row{"gfx1031", "RDNA2", 32},
                       Row{"gfx1032", "RDNA2", 32}, Row{"gfx1150", "RDNA3.5", 32}, Row{"gfx1151", "RDNA3.5", 32},
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
