// What the verification runners share: random inputs written straight as dtype bits, and
// the device buffers of one run. Used by the shared runner (verify.cpp) and by a family's
// own runner (families/<name>/verify.cpp), which may include this header.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

#include "ropegen/runtime.hpp"
#include "ropegen/spec.hpp"

namespace ropegen {

/// A random finite value with an exponent in [lo, hi] (unbiased) and either sign, written
/// straight as dtype bits (4 bytes for f32, 2 for f16 and bf16). One draw of `rng`.
void random_bits(DType t, std::mt19937_64& rng, int lo, int hi, unsigned char* out);

/// The device buffers of one verification run, freed together when it ends.
class DeviceBuffers {
 public:
  explicit DeviceBuffers(Runtime& rt) : rt_(rt) {}
  DeviceBuffers(const DeviceBuffers&) = delete;
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;
  ~DeviceBuffers();

  /// A new buffer holding `bytes` bytes of `data` (at least one byte, even when empty).
  void* upload(const void* data, size_t bytes);
  /// An index array (positions, slots, ...) in the kernel's index type.
  void* upload_index(const std::vector<long long>& v, IndexType t);
  /// `bytes` bytes of a device buffer, back on the host.
  std::vector<unsigned char> download(const void* p, size_t bytes);
  /// The runtime the buffers live on.
  Runtime& runtime() const { return rt_; }

 private:
  Runtime& rt_;
  std::vector<void*> ptrs_;
};

}  // namespace ropegen
