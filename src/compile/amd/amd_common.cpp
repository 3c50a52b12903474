#include "amd.hpp"

#include "ropegen/error.hpp"
#include "ropegen/inspect.hpp"

namespace ropegen {

CodeObject make_amd_code_object(const GeneratedSource& src, const std::string& backend,
                                const std::string& version, std::string bytes) {
  return detail::base_code_object(src, backend, version, "hsaco", std::move(bytes));
}

void check_amd_code_object(const CodeObject& co, const GeneratedSource& src) {
  CodeObjectInfo info = inspect(co);
  auto fail = [&](const std::string& why) {
    throw Error(ErrorKind::Compile, co.backend + " produced a code object that does not match the request: " + why,
                {{"target", src.target.id()}, {"options", co.options}});
  };
  if (info.isa.substr(0, info.isa.find(':')) != src.target.arch)
    fail("ISA " + info.isa + ", asked for " + src.target.id());
  const KernelResources* k = nullptr;
  for (const auto& r : info.kernels)
    if (r.name == src.entry) k = &r;
  if (!k) fail("no kernel named " + src.entry);
  if (k->wave != src.plan.wave)
    fail("wavefront size " + std::to_string(k->wave) + ", asked for " + std::to_string(src.plan.wave));
}

}  // namespace ropegen
