// Runs a comparison kernel over float bit patterns (the fp8 and e2m1 kernel tests): the kernel
// is an op = rope entry whose thread i of block b checks `per` patterns from first + (b * 256 +
// i) * per, and writes {mismatches, last mismatching pattern} to k_cache[2 * thread]; v_stride
// and max_seq carry per and first (unused by op = rope otherwise).
#pragma once

#include <vector>

#include "ropegen/kernel_args.h"
#include "ropegen/runtime.hpp"

namespace ropegen_test {

struct SweepResult {
  long long patterns = 0;  ///< patterns checked
  long long bad = 0;       ///< mismatches
  unsigned last = 0;       ///< a mismatching pattern (the last thread's with one)
};

/// GPU: all 2^32 patterns (4096 blocks of 256 threads, 4096 patterns each). Host: 2^20
/// patterns around 1.0 (the encoders' own tests are in tests/unit/test_reference.cpp).
inline SweepResult run_pattern_sweep(ropegen::Runtime& rt, ropegen::Kernel& k, bool gpu) {
  const long long per = gpu ? 4096 : 256, blocks = gpu ? 4096 : 16;
  const long long first = gpu ? 0 : 0x3f800000 - (1 << 19);
  std::vector<unsigned> result(static_cast<size_t>(2 * blocks * 256), ~0u);
  std::vector<float> dummy(64, 0.0f);
  const size_t bytes = result.size() * sizeof(unsigned);
  void* d_out = rt.alloc(bytes);
  void* d_dummy = rt.alloc(dummy.size() * sizeof(float));
  rt.copy_to_device(d_out, result.data(), bytes);
  rt.copy_to_device(d_dummy, dummy.data(), dummy.size() * sizeof(float));
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.q = a.k = d_dummy;
  a.v = d_dummy;
  a.positions = d_dummy;
  a.k_cache = d_out;
  a.num_tokens = blocks;
  a.q_stride = a.k_stride = 64;
  a.v_stride = per;   // unused by op=rope: the kernel's patterns per thread
  a.max_seq = first;  // likewise: the first pattern
  k.launch(a, nullptr, 1);
  rt.synchronize();
  rt.copy_to_host(result.data(), d_out, bytes);
  rt.free(d_out);
  rt.free(d_dummy);
  SweepResult r;
  r.patterns = blocks * 256 * per;
  for (size_t i = 0; i < result.size() / 2; ++i) {
    r.bad += result[2 * i];
    if (result[2 * i]) r.last = result[2 * i + 1];
  }
  return r;
}

}  // namespace ropegen_test
