// The NVIDIA vendor's factories, for its row in the vendor table (src/vendors/vendors.cpp).
#pragma once

#include <memory>

#include "compile/compile.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {

/// NVRTC (dlopen): cubins for sm_* targets.
std::unique_ptr<Compiler> make_nvrtc_compiler();
/// CUDA through the driver API. device < 0: the current context's device, else device 0.
/// Throws Error(Load) saying why when there is no driver or no device.
std::unique_ptr<Runtime> make_cuda_runtime(int device = -1);

}  // namespace ropegen
