#include "verify/buffers.hpp"

#include <cstdint>
#include <cstring>

namespace ropegen {

void random_bits(DType t, std::mt19937_64& rng, int lo, int hi, unsigned char* out) {
  const std::uint64_t r = rng();
  const unsigned sign = r & 1;
  const int e = lo + static_cast<int>((r >> 1) % static_cast<unsigned>(hi - lo + 1));
  if (t == DType::F32) {
    const std::uint32_t bits = (sign << 31) | (static_cast<std::uint32_t>(e + 127) << 23) |
                               static_cast<std::uint32_t>((r >> 8) & 0x7fffff);
    std::memcpy(out, &bits, 4);
    return;
  }
  const std::uint16_t bits = t == DType::BF16
                                 ? static_cast<std::uint16_t>((sign << 15) | ((e + 127) << 7) | ((r >> 8) & 0x7f))
                                 : static_cast<std::uint16_t>((sign << 15) | ((e + 15) << 10) | ((r >> 8) & 0x3ff));
  std::memcpy(out, &bits, 2);
}

DeviceBuffers::~DeviceBuffers() {
  for (void* p : ptrs_) rt_.free(p);
}

void* DeviceBuffers::upload(const void* data, size_t bytes) {
  void* p = rt_.alloc(bytes ? bytes : 1);
  ptrs_.push_back(p);
  if (bytes) rt_.copy_to_device(p, data, bytes);
  return p;
}

void* DeviceBuffers::upload_index(const std::vector<long long>& v, IndexType t) {
  if (t == IndexType::I64) return upload(v.data(), v.size() * 8);
  std::vector<std::int32_t> w(v.begin(), v.end());
  return upload(w.data(), w.size() * 4);
}

std::vector<unsigned char> DeviceBuffers::download(const void* p, size_t bytes) {
  std::vector<unsigned char> out(bytes);
  rt_.copy_to_host(out.data(), p, bytes);
  return out;
}

}  // namespace ropegen
