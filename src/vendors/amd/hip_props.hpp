// hipDeviceProp_t as the HIP runtime writes it, without HIP headers.
//
// From ROCm 6 the headers map hipGetDeviceProperties to hipGetDevicePropertiesR0600, which
// fills a 1472-byte struct; the unversioned export keeps the old R0000 layout (792 bytes,
// ROCm 5.x). Build headers would pin one of them at compile time, so ropegen defines the
// few fields it reads at fixed offsets and picks the layout by the symbol it resolves.
// R0000 was checked with offsetof against ROCm 5.2's hip_runtime_api.h
// (tests/hip_loader/test_hip_loader.cpp does so whenever the header is installed); R0600
// follows ROCm 6's hipDeviceProp_tR0600.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>

namespace ropegen::detail {

/// Offsets of the fields ropegen reads, for one hipDeviceProp_t revision.
struct HipPropsLayout {
  const char* symbol;            ///< the export that fills this layout
  size_t size;                   ///< sizeof the struct
  size_t name;                   ///< char name[256]
  size_t multi_processor_count;  ///< int multiProcessorCount
  size_t gcn_arch_name;          ///< char gcnArchName[256]
};

inline constexpr size_t kHipNameBytes = 256;
inline constexpr HipPropsLayout kHipPropsR0000{"hipGetDeviceProperties", 792, 0, 336, 396};
inline constexpr HipPropsLayout kHipPropsR0600{"hipGetDevicePropertiesR0600", 1472, 0, 388, 1160};
/// The buffer handed to either export: larger than both layouts (AMD has said the
/// unversioned symbol may move to a newer, larger layout), zero-filled first.
inline constexpr size_t kHipPropsBufferBytes = 8192;

/// The fields ropegen uses.
struct HipDeviceProps {
  std::string name;  ///< "AMD Instinct MI300X"
  std::string arch;  ///< gcnArchName, e.g. "gfx90a:sramecc+:xnack-"
  int multiprocessors = 0;
};

inline HipDeviceProps read_hip_props(const unsigned char* buf, const HipPropsLayout& l) {
  auto text = [&](size_t off) {
    const char* p = reinterpret_cast<const char*>(buf + off);
    size_t n = 0;
    while (n < kHipNameBytes && p[n]) ++n;
    return std::string(p, n);
  };
  HipDeviceProps p;
  p.name = text(l.name);
  p.arch = text(l.gcn_arch_name);
  std::memcpy(&p.multiprocessors, buf + l.multi_processor_count, sizeof(int));
  return p;
}

}  // namespace ropegen::detail
