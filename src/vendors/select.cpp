// The compiler registry and backend selection, over the vendor table.
#include <cstdlib>
#include <memory>

#include "compile/compile.hpp"
#include "vendors.hpp"
#include "ropegen/error.hpp"

namespace ropegen {

namespace detail {

bool same_vendor(const Compiler& c, const Target& t, std::string* why) {
  if (c.vendor() == t.vendor) return true;
  if (why) {
    const std::string v = c.vendor() == Vendor::Host ? "target host" : std::string(vendor_info(c.vendor()).name) + " targets";
    *why = "builds only for " + v + ", not " + t.id();
  }
  return false;
}

}  // namespace detail

const std::vector<const Compiler*>& compilers() {
  static const std::vector<std::unique_ptr<Compiler>> owned = [] {
    std::vector<std::unique_ptr<Compiler>> v;
    for (const VendorInfo& vendor : vendors())
      for (auto make : vendor.compilers) v.push_back(make());
    return v;
  }();
  static const std::vector<const Compiler*> list = [] {
    std::vector<const Compiler*> v;
    for (const auto& c : owned) v.push_back(c.get());
    return v;
  }();
  return list;
}

const Compiler& select_compiler(const Target& target, const std::string& forced, std::string* skipped) {
  std::string reasons;
  for (const Compiler* c : compilers()) {
    if (!forced.empty() && c->name() != forced) continue;
    std::string why;
    // Vendor first: asking availability loads the vendor's libraries (hipRTC's probe opens
    // libamdhip64 and comgr), which a build for another vendor's target must not pay for.
    if (c->vendor() != target.vendor) {
      detail::same_vendor(*c, target, &why);
      reasons += "\n  " + c->name() + ": " + why;
      continue;
    }
    if (!c->available(&why)) {
      reasons += "\n  " + c->name() + ": not available: " + why;
      if (skipped && c->vendor() == target.vendor)
        *skipped += (skipped->empty() ? "" : "; ") + c->name() + ": not available: " + why;
      continue;
    }
    if (!c->supports(target, &why)) {
      reasons += "\n  " + c->name() + ": " + why;
      if (skipped && c->vendor() == target.vendor)
        *skipped += (skipped->empty() ? "" : "; ") + c->name() + ": " + why;
      continue;
    }
    return *c;
  }
  if (!forced.empty() && reasons.empty()) {
    std::string names;
    for (const Compiler* c : compilers()) names += (names.empty() ? "" : ", ") + c->name();
    throw Error(ErrorKind::Compile, "unknown compiler '" + forced + "'; known: " + names);
  }
  throw Error(ErrorKind::Compile, "no compiler can build for target " + target.id() + ":" + reasons,
              {{"target", target.id()}});
}

}  // namespace ropegen
