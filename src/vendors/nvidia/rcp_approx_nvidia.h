// NVIDIA's approximate reciprocal, rcp.approx.ftz.f32 (every sm_*: relative error within 2^-23
// (PTX ISA), subnormal inputs and results flushed to zero of the same sign), for the recipes
// that reproduce kernels built with it: nvfp4 recipe = trtllm (TensorRT-LLM's
// reciprocal_approximate_ftz). Codegen pastes this after `#define RG_RCP_APPROX 1`, before
// templates/quant.h. Its results are the hardware's: the host cannot compute them, so
// src/verify takes the values the reference needs from the device running the kernel (a
// kernel of this function alone).
RG_DEVICE float rg_rcp_approx_ftz(float x) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
