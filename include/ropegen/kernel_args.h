/* ropegen kernel arguments: the one argument every generated kernel takes, by value.
 * C-compatible and free of includes: the same text is compiled into the generated kernels
 * (NVRTC, hipRTC, clang, host C++) and by the callers that fill it in.
 * All strides count elements, not bytes. */
#ifndef ROPEGEN_KERNEL_ARGS_H
#define ROPEGEN_KERNEL_ARGS_H

typedef struct ropegen_kernel_args {
  void* q;                  /* [tokens, q_heads, head_dim], row stride q_stride; rotated in place */
  void* k;                  /* [tokens, kv_heads, head_dim], row stride k_stride (rope: in place) */
  const void* v;            /* [tokens, kv_heads, head_dim], row stride v_stride */
  void* k_cache;            /* layout from the spec's cache field */
  void* v_cache;
  const void* positions;    /* index-typed, one per token */
  const void* slot_mapping; /* index-typed cache slot per token, < 0 skips; optional for
                               contiguous caches (then the position is the slot) */
  const float* cos;         /* cos[pos * cos_sin_stride + j], j < rotary_dim / 2 */
  const float* sin;         /* sin[pos * cos_sin_stride + j] */
  long long num_tokens;
  long long q_stride;       /* elements between consecutive tokens of q */
  long long k_stride;
  long long v_stride;
  long long cos_sin_stride; /* elements between consecutive positions of cos and sin */
  long long max_seq;        /* contiguous(order = hnd): slots per head in the cache */
} ropegen_kernel_args;

#endif /* ROPEGEN_KERNEL_ARGS_H */
