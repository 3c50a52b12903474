#include "describe.hpp"

#include <climits>

#include "access.hpp"

#include "families/family.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {

nlohmann::json plan_json(const LaunchPlan& p) {
  return {{"wave", p.wave},
          {"vec", p.vec},
          {"lanes_per_head", p.lanes_per_head},
          {"tokens_per_block", p.tokens_per_block},
          {"head_groups", p.head_groups},
          {"tasks_per_token", p.num_tasks},
          {"block_threads", p.block_threads},
          {"prefetch_first", p.prefetch_first},
          {"whole_token", p.whole_token}};
}

std::string Kernel::describe() const {
  const Build* b = InternalAccess::build(*this);
  if (!b) throw Error(ErrorKind::Internal, "this kernel was not loaded through a Context: no build record");
  return describe_kernel(*b).dump();
}

nlohmann::json describe_kernel(const Build& b) {
  const GeneratedSource& g = *b.generated;
  nlohmann::json args = nlohmann::json::array();
  for (const ArgRequirement& r : argument_requirements(g.spec, g.align, &g.target)) {
    nlohmann::json shape = nlohmann::json::array();
    for (long long d : r.shape) {
      if (d == kDimTokens) shape.push_back("tokens");
      else if (d == kDimFree) shape.push_back(nullptr);
      else shape.push_back(d);
    }
    const std::string access = r.access;
    nlohmann::json a = {{"name", r.name},
                        {"field", r.field},
                        {"required", r.required},
                        {"optional", !r.required},
                        {"written", access == "write" || access == "read_write"},
                        {"why", r.why},
                        {"dtype", r.dtype},
                        {"access", r.access},
                        {"align", r.align},
                        {"shape", shape}};
    if (r.stride) {
      a["stride"] = r.stride;
      a["min_stride"] = r.min_stride;
      a["stride_multiple"] = r.stride_multiple;
    }
    // layers = many: where a layer's own argument lies in its record, and q, k, v's layer stride.
    if (r.layer_offset >= 0) a["layer_offset"] = r.layer_offset;
    if (r.layer_stride) a["layer_stride"] = r.layer_stride;
    if (!r.dim_strides.empty()) {
      nlohmann::json strides = nlohmann::json::array();
      for (const char* f : r.dim_strides) strides.push_back(f ? nlohmann::json(f) : nlohmann::json(nullptr));
      a["dim_strides"] = strides;
      a["stride_multiple"] = r.stride_multiple;
    }
    args.push_back(a);
  }
  nlohmann::json j = {{"kernel", g.spec.name},
                      {"spec", g.spec.canonical()},
                      {"hash", g.spec.hash()},
                      {"op", to_string(g.spec.op)},
                      {"kernel_family", family_of(g.spec.op).name},
                      {"target", g.target.id()},
                      {"family", g.target.family},
                      {"wave", g.plan.wave},
                      {"entry", g.entry},
                      {"plan", plan_json(g.plan)},
                      {"source_hash", g.source_hash},
                      {"arguments", args}};
  j["plan_source"] = b.plan_source;
  if (!b.tuned.empty()) {
    // A kernel of tuned plans: which plan serves which token counts, and the record.
    nlohmann::json plans = nlohmann::json::array();
    for (const Build::TunedPlan& t : b.tuned)
      plans.push_back({{"bucket", t.bucket},
                       {"max_tokens", t.max_tokens == LLONG_MAX ? nlohmann::json(nullptr) : nlohmann::json(t.max_tokens)},
                       {"plan", plan_json(t.plan)},
                       {"origin", t.origin}});
    j["tuned"] = {{"record", b.tuned_record}, {"plans", plans}};
  }
  if (b.code) {
    j["origin"] = b.origin;
    j["key"] = b.key_hash;
    j["compiler"] = b.code->backend;
  }
  return j;
}

}  // namespace ropegen
