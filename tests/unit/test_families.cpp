// The family contract: every family in the registry is complete (template, ops, parts), its
// names resolve, and no stage outside src/families/ names an op.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "codegen/codegen.hpp"
#include "families/family.hpp"
#include "ropegen/runtime.hpp"
#include "verify/verify.hpp"

using namespace ropegen;

TEST_CASE("families: every registered family is complete") {
  std::set<std::string> names, ops;
  for (const Family* f : families()) {
    CAPTURE(f->name);
    CHECK(names.insert(f->name).second);
    CHECK_FALSE(template_text(f->template_file).empty());
    CHECK_FALSE(f->ops.empty());
    CHECK(static_cast<bool>(f->validate));
    CHECK(static_cast<bool>(f->shape));
    CHECK(static_cast<bool>(f->bind));
    CHECK(static_cast<bool>(f->requirements));
    CHECK((f->expect_token || f->verify));  // the shared runner's model, or its own runner
    CHECK(static_cast<bool>(f->matrix));
    for (const OpRow& r : f->ops) {
      CHECK(ops.insert(r.name).second);
      CHECK(&family_of(r.op) == f);
      CHECK(std::string(to_string(r.op)) == r.name);  // the DSL's names come from the registry
    }
    // A family-facing name renames a field of the argument block.
    for (const auto& n : f->arg_names) {
      bool found = false;
      for (const ArgField& a : kernel_args_fields()) found = found || std::strcmp(a.name, n.first) == 0;
      CHECK_MESSAGE(found, n.first);
    }
    // Its cases are in the matrix and name only its ops.
    std::vector<MatrixCase> cases;
    f->matrix(cases);
    CHECK_FALSE(cases.empty());
    for (const MatrixCase& c : cases) CHECK(&family_of(parse_spec_line(c.spec).spec.op) == f);
  }
}

TEST_CASE("families: MLA's arguments carry its names and their fields") {
  const KernelSpec s = parse_spec_line("op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 q_heads=4").spec;
  std::set<std::string> seen;
  for (const ArgRequirement& r : argument_requirements(s, ArgAlignment{})) {
    seen.insert(r.name);
    if (std::string(r.name) == "k_pe") CHECK(std::string(r.field) == "k");
    if (std::string(r.name) == "kv_c") CHECK(std::string(r.field) == "v");
  }
  CHECK(seen.count("k_pe") == 1);
  CHECK(seen.count("kv_c") == 1);
  CHECK(seen.count("k") == 0);
}

TEST_CASE("families: the indexer's arguments carry its names and their fields") {
  const KernelSpec s = parse_spec_line("op=indexer_append rotary_dim=64 cache_dtype=fp8_e4m3 cache=paged(block=64) "
                                       "k_norm=layernorm").spec;
  std::set<std::string> seen;
  for (const ArgRequirement& r : argument_requirements(s, ArgAlignment{})) {
    seen.insert(r.name);
    if (std::string(r.name) == "weights") CHECK(std::string(r.field) == "v");
    if (std::string(r.name) == "head_weights") CHECK(std::string(r.field) == "q_out_scales");
    if (std::string(r.name) == "k_norm_bias") CHECK(std::string(r.field) == "q_norm_weight");
  }
  for (const char* n : {"q", "k", "weights", "positions", "slot_mapping", "cos", "sin", "k_norm_weight", "k_norm_bias",
                        "k_cache", "q_out", "head_weights"})
    CHECK_MESSAGE(seen.count(n) == 1, n);
}

TEST_CASE("families: no stage outside src/families/ names an op") {
  namespace fs = std::filesystem;
  const fs::path src = fs::path(ROPEGEN_SOURCE_DIR) / "src";
  std::vector<std::string> offenders;
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), src).generic_string();
    if (rel.rfind("families/", 0) == 0) continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string t = text.str();
    for (const OpRow& r : op_rows()) {
      // The enum value (Op::MlaRopeAppend) or the quoted DSL name ("mla_rope_append").
      std::string camel;
      bool up = true;
      for (const char* p = r.name; *p; ++p) {
        if (*p == '_') {
          up = true;
          continue;
        }
        camel += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(*p))) : *p;
        up = false;
      }
      for (const std::string& needle : {"Op::" + camel, "\"" + std::string(r.name) + "\""})
        if (t.find(needle) != std::string::npos) offenders.push_back(rel + ": " + needle);
    }
  }
  CHECK_MESSAGE(offenders.empty(), [&] {
    std::string all;
    for (const auto& o : offenders) all += o + "\n";
    return all;
  }());
}
