#include "amd.hpp"

#include "ropegen/error.hpp"
#include "compile/inspect.hpp"

namespace ropegen {

CodeObject make_amd_code_object(const GeneratedSource& src, const std::string& backend,
                                const std::string& version, std::string bytes) {
  return detail::base_code_object(src, backend, version, "hsaco", std::move(bytes));
}

int amd_elf_code_object_version(const std::vector<unsigned char>& b) {
  constexpr unsigned char kElfOsAbiAmdgpuHsa = 64;
  if (b.size() < 16 || b[0] != 0x7f || b[1] != 'E' || b[2] != 'L' || b[3] != 'F' || b[7] != kElfOsAbiAmdgpuHsa)
    return -1;
  return b[8] + 2;  // EI_ABIVERSION: 1 = v3, 2 = v4, 3 = v5, 4 = v6
}

void check_amd_code_object(const CodeObject& co, const GeneratedSource& src, int code_object_version) {
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
  const int elf = amd_elf_code_object_version(co.bytes);
  if (elf != code_object_version || info.code_object_version != code_object_version)
    fail("code object version v" + std::to_string(elf) + " in the ELF header and v" +
         std::to_string(info.code_object_version) + " in the metadata (amdhsa.version), asked for v" +
         std::to_string(code_object_version));
}

}  // namespace ropegen
