#include "vendors.hpp"

#include "amd/amd.hpp"
#include "host/host.hpp"
#include "nvidia/nvidia.hpp"
#include "ropegen/error.hpp"

namespace ropegen {

const std::vector<VendorInfo>& vendors() {
  static const std::vector<VendorInfo> table = {
      {Vendor::Nvidia,
       "NVIDIA",
       "cuda",
       {{"prelude_nvidia.h", "convert_nvidia.h", "sincos_portable.h"},
        {"convert_fp8_nvidia.h", "fp8.h"},
        false,
        {"cubin", "ptx"},
        "convert_e2m1_nvidia.h",
        "rcp_approx_nvidia.h"},
       {make_nvrtc_compiler},
       make_cuda_runtime},
      {Vendor::Amd,
       "AMD",
       "hip",
       {{"prelude_amd.h", "raw_vector_ext.h", "convert_bf16_amd.h", "convert_f16_amd.h", "sincos_portable.h"},
        {"convert_fp8_amd.h", "fp8.h"},
        false,
        {"hsaco"},
        "",
        ""},
       {make_hiprtc_compiler, make_clang_amdgpu_compiler},
       make_hip_runtime},
      {Vendor::Host,
       "host",
       "host",
       {{"prelude_host.h", "raw_vector_ext.h", "convert_bf16_soft.h", "convert_f16_soft.h", "sincos_portable.h"},
        {"fp8.h"},
        true,
        {"elf-so"},
        "",
        ""},
       {make_host_compiler},
       [](int) { return make_host_runtime(); }},
  };
  return table;
}

const Dialect& dialect_for(Vendor vendor) { return vendor_info(vendor).dialect; }

const VendorInfo& vendor_info(Vendor vendor) {
  for (const VendorInfo& v : vendors())
    if (v.vendor == vendor) return v;
  throw Error(ErrorKind::Internal, std::string("no vendor table row for ") + to_string(vendor));
}

}  // namespace ropegen
