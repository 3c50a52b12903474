// Prelude for NVIDIA targets (NVRTC): CUDA's built-in indices and math, no includes.
#define RG_DEVICE __device__ __forceinline__
#define RG_KERNEL(threads) extern "C" __global__ void __launch_bounds__(threads)
#define RG_CONST_ARRAY __device__ const

RG_DEVICE int rg_thread_x() { return static_cast<int>(threadIdx.x); }
RG_DEVICE int rg_block_x() { return static_cast<int>(blockIdx.x); }
RG_DEVICE int rg_block_y() { return static_cast<int>(blockIdx.y); }
RG_DEVICE int rg_grid_y() { return static_cast<int>(gridDim.y); }

RG_DEVICE float rg_as_float(unsigned u) { return __uint_as_float(u); }
RG_DEVICE unsigned rg_as_uint(float f) { return __float_as_uint(f); }
// Full-accuracy sincosf (no fast math): within 2 ulp over the whole range.
RG_DEVICE void rg_sincos(float x, float* s, float* c) { sincosf(x, s, c); }
