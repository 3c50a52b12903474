// Spec resolution for a request made of a spec file, a kernel name, one-line text and
// per-key flags (the CLI's flags; any front end that layers overrides on a file).
#include "schema/resolve.hpp"
#include "schema/fields.hpp"

#include "dsl/dsl.hpp"
#include "ropegen/error.hpp"

namespace ropegen {
namespace {

/// The op a one-line text sets, if it sets one (the final op decides which flags act).
bool op_of_line(const std::string& line, Op& op) {
  if (line.empty()) return false;
  dsl::Source src("<command line>", line);
  for (const dsl::Entry& e : dsl::parse_entries(src).entries)
    if (e.key == "op") {
      KernelSpec scratch;
      lower_field("op", e.value.text, scratch, "<command line>");
      op = scratch.op;
      return true;
    }
  return false;
}

/// Spec flags, each checked to hold exactly one value of its key ("--head-dim '64 dtype=f32'"
/// is an error, not a second key), then joined into one-line text. A flag for a key the
/// final op does not use is dropped when it equals the default (it says nothing).
std::string flag_overrides(const SpecRequest& f, Op final_op) {
  std::string out;
  const KernelSpec defaults;
  for (const auto& kv : f.fields) {
    KernelSpec value;
    const SpecField& field = lower_field(kv.first, kv.second, value, "<command line>");
    if (!field.used_by(final_op) && field.compare(defaults, value) == 0) continue;
    out += (out.empty() ? "" : " ") + kv.first + "=" + kv.second;
  }
  return out;
}

}  // namespace

std::vector<ParsedSpec> resolve_specs(const SpecRequest& f, std::vector<std::string>* notes) {
  std::vector<ParsedSpec> specs;
  if (!f.spec_file.empty()) {
    specs = load_spec_file(f.spec_file);
    if (!f.kernel.empty()) {
      std::vector<ParsedSpec> picked;
      std::string names;
      for (auto& s : specs) {
        names += (names.empty() ? "" : ", ") + s.spec.name;
        if (s.spec.name == f.kernel) picked.push_back(s);
      }
      if (picked.empty())
        throw Error(ErrorKind::Spec, "no kernel named '" + f.kernel + "' in " + f.spec_file +
                                         " (it has: " + names + ")");
      specs = picked;
    }
  } else {
    if (!f.kernel.empty()) throw Error(ErrorKind::Spec, "--kernel needs --spec FILE");
    specs.push_back(parse_spec_line("", "<command line>"));
    specs.back().spec.name = "cli";
  }
  // The op after the overrides: the --op flag, else the one-line text's, else the file's.
  bool op_given = false;
  Op new_op = KernelSpec{}.op;
  for (const auto& kv : f.fields)
    if (kv.first == "op") {
      KernelSpec scratch;
      lower_field("op", kv.second, scratch, "<command line>");
      new_op = scratch.op;
      op_given = true;
    }
  if (!op_given) op_given = op_of_line(f.one_line, new_op);
  for (auto& s : specs) {
    const Op final_op = op_given ? new_op : s.spec.op;
    std::string overrides = flag_overrides(f, final_op);
    if (!f.one_line.empty()) overrides = f.one_line + (overrides.empty() ? "" : " " + overrides);
    if (overrides.empty()) continue;
    // A file's keys that the new op does not use go, with a note: the flags changed the op.
    if (!f.spec_file.empty() && final_op != s.spec.op) {
      std::string dropped;
      for (const SpecField& field : spec_fields())
        if (!field.used_by(final_op) && s.origin.keys.erase(field.key))
          dropped += (dropped.empty() ? "" : ", ") + std::string(field.key);
      if (!dropped.empty() && notes)
        notes->push_back("kernel '" + s.spec.name + "': op = " + to_string(final_op) + " does not use " + dropped +
                         " from " + f.spec_file + "; dropped");
    }
    const std::string name = s.spec.name;
    s = f.spec_file.empty() ? parse_spec_line(overrides, "<command line>")
                            : parse_spec_line(overrides, s, "<command line>");
    s.spec.name = name;
  }
  return specs;
}

}  // namespace ropegen
