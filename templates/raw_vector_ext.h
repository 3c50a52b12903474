// Raw types of 16, 8, 4 and 2 bytes for compilers with GCC/clang vector extensions (AMD
// targets and the host): a vector load or store is one memory instruction
// (global_load_b128 / global_load_dwordx4 on AMD). NVIDIA uses CUDA's uint4/uint2 instead.
typedef unsigned int rg_u32x4 __attribute__((vector_size(16)));
typedef unsigned int rg_u32x2 __attribute__((vector_size(8)));
template <int Bytes> struct rg_raw;
template <> struct rg_raw<16> { using type = rg_u32x4; };
template <> struct rg_raw<8> { using type = rg_u32x2; };
template <> struct rg_raw<4> { using type = unsigned int; };
template <> struct rg_raw<2> { using type = unsigned short; };
// Word i of a raw vector (i is a constant once loops are unrolled).
RG_DEVICE unsigned rg_word(const rg_u32x4& r, int i) { return r[i]; }
RG_DEVICE unsigned rg_word(const rg_u32x2& r, int i) { return r[i]; }
RG_DEVICE unsigned rg_word(unsigned r, int) { return r; }
RG_DEVICE unsigned rg_word(unsigned short r, int) { return r; }
RG_DEVICE void rg_set_word(rg_u32x4& r, int i, unsigned v) { r[i] = v; }
RG_DEVICE void rg_set_word(rg_u32x2& r, int i, unsigned v) { r[i] = v; }
RG_DEVICE void rg_set_word(unsigned& r, int, unsigned v) { r = v; }
RG_DEVICE void rg_set_word(unsigned short& r, int, unsigned v) { r = static_cast<unsigned short>(v); }
