// Code-object inspection: ELF sections, AMDGPU metadata (msgpack in an NT_AMDGPU_METADATA
// note, decoded with nlohmann::json), cubin .nv.info attributes, and disassembly.
#include "compile/inspect.hpp"

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

#include "../common/process.hpp"
#include "backend_util.hpp"
#include "ropegen/error.hpp"

namespace ropegen {
namespace {

[[noreturn]] void bad(const std::string& why) {
  throw Error(ErrorKind::Load, "malformed code object: " + why);
}

struct Section {
  std::string name;
  uint32_t type;
  uint64_t offset, size;
  uint32_t info;
};

template <typename T>
T read_at(const std::vector<unsigned char>& b, uint64_t off) {
  if (off > b.size() || b.size() - off < sizeof(T)) bad("read past the end at offset " + std::to_string(off));
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

/// Section headers of a little-endian ELF64 file, with names.
std::vector<Section> elf_sections(const std::vector<unsigned char>& b) {
  if (b.size() < 64 || std::memcmp(b.data(), "\x7f" "ELF", 4) != 0) bad("not an ELF file");
  if (b[4] != 2 || b[5] != 1) bad("not a little-endian ELF64 file");
  const uint64_t shoff = read_at<uint64_t>(b, 0x28);
  const uint16_t shentsize = read_at<uint16_t>(b, 0x3a);
  const uint16_t shnum = read_at<uint16_t>(b, 0x3c);
  const uint16_t shstrndx = read_at<uint16_t>(b, 0x3e);
  if (shentsize < 64 || shstrndx >= shnum) bad("bad section header table");
  std::vector<Section> out;
  std::vector<uint32_t> name_off;
  for (uint16_t i = 0; i < shnum; ++i) {
    const uint64_t h = shoff + static_cast<uint64_t>(i) * shentsize;
    Section s;
    name_off.push_back(read_at<uint32_t>(b, h));
    s.type = read_at<uint32_t>(b, h + 4);
    s.offset = read_at<uint64_t>(b, h + 0x18);
    s.size = read_at<uint64_t>(b, h + 0x20);
    s.info = read_at<uint32_t>(b, h + 0x2c);
    if (s.type != 8 /*NOBITS*/ && (s.offset > b.size() || b.size() - s.offset < s.size))
      bad("section " + std::to_string(i) + " lies outside the file");
    out.push_back(s);
  }
  const Section& strtab = out[shstrndx];
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t o = strtab.offset + name_off[i];
    std::string n;
    while (o < strtab.offset + strtab.size && b[o]) n += static_cast<char>(b[o++]);
    out[i].name = n;
  }
  return out;
}

int as_int(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int>() : -1;
}

CodeObjectInfo inspect_amd(const CodeObject& co) {
  const auto& b = co.bytes;
  CodeObjectInfo info;
  for (const Section& s : elf_sections(b)) {
    if (s.type != 7 /*SHT_NOTE*/) continue;
    uint64_t p = s.offset, end = s.offset + s.size;
    while (p + 12 <= end) {
      const uint32_t namesz = read_at<uint32_t>(b, p), descsz = read_at<uint32_t>(b, p + 4),
                     type = read_at<uint32_t>(b, p + 8);
      const uint64_t name_at = p + 12, desc_at = name_at + ((namesz + 3) & ~3u);
      const uint64_t next = desc_at + ((static_cast<uint64_t>(descsz) + 3) & ~3ull);
      if (next > end) bad("truncated note");
      const std::string name(reinterpret_cast<const char*>(&b[name_at]), namesz ? namesz - 1 : 0);
      if (name == "AMDGPU" && type == 32 /*NT_AMDGPU_METADATA*/) {
        nlohmann::json meta;
        try {
          meta = nlohmann::json::from_msgpack(b.begin() + static_cast<long>(desc_at),
                                              b.begin() + static_cast<long>(desc_at + descsz));
        } catch (const std::exception& e) {
          bad(std::string("AMDGPU metadata is not valid msgpack: ") + e.what());
        }
        std::string target = meta.value("amdhsa.target", "");
        auto pos = target.rfind("--");
        info.isa = pos == std::string::npos ? target : target.substr(pos + 2);
        // amdhsa.version [1, n]: code object v3 is [1, 0], v4 [1, 1], v5 [1, 2], ...
        auto ver = meta.find("amdhsa.version");
        if (ver != meta.end() && ver->is_array() && ver->size() == 2 && ver->at(0) == 1 && ver->at(1).is_number())
          info.code_object_version = ver->at(1).get<int>() + 3;
        for (const auto& k : meta.value("amdhsa.kernels", nlohmann::json::array())) {
          KernelResources r;
          r.name = k.value(".name", "");
          r.wave = as_int(k, ".wavefront_size");
          r.vgprs = as_int(k, ".vgpr_count");
          r.agprs = as_int(k, ".agpr_count");
          r.sgprs = as_int(k, ".sgpr_count");
          r.lds_bytes = as_int(k, ".group_segment_fixed_size");
          r.scratch_bytes = as_int(k, ".private_segment_fixed_size");
          r.max_threads = as_int(k, ".max_flat_workgroup_size");
          int vs = as_int(k, ".vgpr_spill_count"), ss = as_int(k, ".sgpr_spill_count");
          r.spills = vs < 0 && ss < 0 ? -1 : std::max(vs, 0) + std::max(ss, 0);
          info.kernels.push_back(r);
        }
        return info;
      }
      p = next;
    }
  }
  bad("no NT_AMDGPU_METADATA note");
}

CodeObjectInfo inspect_cubin(const CodeObject& co) {
  const auto& b = co.bytes;
  CodeObjectInfo info;
  info.isa = co.target_id;
  auto sections = elf_sections(b);
  // ropegen cubins hold one kernel, so attributes need not be matched to symbols.
  KernelResources r;
  r.name = co.entry;
  for (const Section& s : sections) {
    // Per-kernel ".nv.info.<name>" and the global ".nv.info": records of
    // {u8 format, u8 attribute, payload}; format 0x04 carries a u16 size and that many bytes.
    if (s.name.rfind(".nv.info", 0) != 0) continue;
    uint64_t p = s.offset, end = s.offset + s.size;
    while (p + 4 <= end) {
      const uint8_t fmt = b[p], attr = b[p + 1];
      uint16_t val = read_at<uint16_t>(b, p + 2);
      uint64_t payload = p + 4, next = p + 4;
      if (fmt == 0x04) next = payload + val;
      if (next > end) break;
      if (fmt == 0x04 && val >= 8) {
        const uint32_t v = read_at<uint32_t>(b, payload + 4);
        if (attr == 0x2f) r.registers = static_cast<int>(v);      // EIATTR_REGCOUNT
        if (attr == 0x11) r.scratch_bytes = static_cast<int>(v);  // EIATTR_FRAME_SIZE
      }
      if (fmt == 0x04 && val >= 12 && attr == 0x05)  // EIATTR_MAX_THREADS {x, y, z}
        r.max_threads = static_cast<int>(read_at<uint32_t>(b, payload));
      p = next;
    }
  }
  // The kernel's static shared memory: .nv.shared.<kernel> (ptxas adds .nv.shared.reserved.N
  // sections of its own, often empty, after it: not the kernel's).
  for (const Section& s : sections)
    if (s.name.rfind(".nv.shared.", 0) == 0 && s.name.rfind(".nv.shared.reserved.", 0) != 0)
      r.lds_bytes = static_cast<int>(s.size);
  if (r.lds_bytes < 0) r.lds_bytes = 0;
  info.kernels.push_back(r);
  return info;
}

}  // namespace

CodeObjectInfo inspect(const CodeObject& co) {
  if (co.format == "hsaco") return inspect_amd(co);
  if (co.format == "cubin") return inspect_cubin(co);
  CodeObjectInfo info;
  info.isa = co.target_id;
  KernelResources r;
  r.name = co.entry;
  r.max_threads = co.plan.block_threads;
  info.kernels.push_back(r);
  return info;
}

std::string disassemble(const CodeObject& co) {
  if (co.format == "ptx") return std::string(co.bytes.begin(), co.bytes.end());
  std::vector<std::string> argv;
  std::string tool;
  if (co.format == "hsaco") {
    tool = detail::find_program("ROPEGEN_OBJDUMP", {"llvm-objdump-19", "llvm-objdump-18", "llvm-objdump-17",
                                                    "llvm-objdump-16", "llvm-objdump-15", "llvm-objdump"});
    if (tool.empty()) throw Error(ErrorKind::Io, "--disasm needs llvm-objdump (apt-get install llvm-19)");
    std::string arch = co.target_id.substr(0, co.target_id.find(':'));
    argv = {tool, "-d", "--mcpu=" + arch};
  } else if (co.format == "cubin") {
    // nvdisasm reads a cubin directly; cuobjdump -sass is the other tool of the toolkit.
    tool = detail::find_program("ROPEGEN_NVDISASM", {"nvdisasm", "/usr/local/cuda/bin/nvdisasm"});
    if (!tool.empty()) {
      argv = {tool};
    } else {
      tool = detail::find_program("ROPEGEN_CUOBJDUMP", {"cuobjdump", "/usr/local/cuda/bin/cuobjdump"});
      if (tool.empty())
        throw Error(ErrorKind::Io,
                    "--disasm needs nvdisasm or cuobjdump from the CUDA toolkit (looked on PATH and in "
                    "/usr/local/cuda/bin; set ROPEGEN_NVDISASM or ROPEGEN_CUOBJDUMP)");
      argv = {tool, "-sass"};
    }
  } else {
    tool = detail::find_program(nullptr, {"objdump"});
    if (tool.empty()) throw Error(ErrorKind::Io, "--disasm needs objdump for host code objects");
    argv = {tool, "-d", "--no-show-raw-insn"};
  }
  const std::string dir = detail::make_temp_dir("ropegen-disasm");
  // A fixed name: nothing read from a code object becomes part of a path.
  const char* ext = co.format == "cubin"   ? ".cubin"
                    : co.format == "ptx"   ? ".ptx"
                    : co.format == "hsaco" ? ".hsaco"
                                           : ".so";
  const std::string file = dir + "/code" + ext;
  detail::ProcessResult r;
  try {
    detail::write_file(file, std::string(co.bytes.begin(), co.bytes.end()));
    argv.push_back(file);
    r = detail::run_process(argv);
  } catch (...) {
    detail::remove_tree(dir);
    throw;
  }
  detail::remove_tree(dir);
  if (r.exit_code != 0)
    throw Error(ErrorKind::Io, detail::join_command(argv) + " failed: " + r.error + "\n" + r.output);
  return r.output;
}

}  // namespace ropegen
