/* ropegen kernel arguments: the one argument every generated kernel takes, by value.
 * C-compatible and free of includes: the same text is compiled into the generated kernels
 * (NVRTC, hipRTC, clang, host C++) and by the callers that fill it in. It is the single
 * source of the argument block: the C API describes its layout at run time
 * (ropegen_kernel_args_layout) and every other language's copy is checked against that.
 *
 * Versioned: the block starts with its size and ABI version. Initialise it with
 * ROPEGEN_KERNEL_ARGS_INIT; a launch whose block has another size or version is refused
 * with a message naming both. New fields are appended as new groups, with a new version.
 * All strides count elements, not bytes. */
#ifndef ROPEGEN_KERNEL_ARGS_H
#define ROPEGEN_KERNEL_ARGS_H

#define ROPEGEN_KERNEL_ABI_VERSION 8

/* layers = many (ABI version 8): one layer's own pointers, one record per layer in the device
 * array ropegen_kernel_args.layers. Each member replaces the block's field of the same name
 * for that layer (the block's own stays null); what the spec does not use stays null. */
typedef struct ropegen_layer_args {
  void* k_cache;
  void* v_cache;
  void* k_cache_scales;
  void* v_cache_scales;
  const float* k_scale;
  const float* v_scale;
  const float* q_scale;
  void* q_out;
  void* k_out;
  float* q_out_scales;
  void* gate_out;
  const void* q_norm_weight;
  const void* k_norm_weight;
  const void* q_bias;
  const void* k_bias;
  const void* v_bias;
} ropegen_layer_args;

typedef struct ropegen_kernel_args {
  /* ---- header ---- */
  unsigned int size;        /* sizeof(ropegen_kernel_args) as the caller compiled it */
  unsigned int abi_version; /* ROPEGEN_KERNEL_ABI_VERSION as the caller compiled it */
  long long num_tokens;

  /* ---- per token: every op ---- */
  const void* positions;    /* index-typed, one per token */
  const void* slot_mapping; /* index-typed cache slot per token, < 0 skips the cache write
                               (padding); optional for contiguous caches (then the position
                               is the slot); >= cache_slots: see the limits below */

  /* ---- activations: [tokens, heads, head_dim] rows, token stride in elements ---- */
  void* q;                  /* [tokens, q_heads, head_dim]; rotated in place (rope ops) unless
                               q_out is given */
  long long q_stride;       /* elements between consecutive tokens of q */
  void* k;                  /* [tokens, kv_heads, head_dim] (rope: rotated in place unless
                               k_out is given; optional for rope: null rotates q only) */
  long long k_stride;
  const void* v;            /* [tokens, kv_heads, head_dim] (cache ops) */
  long long v_stride;

  /* ---- rotation: rope ops with cos_sin = table ---- */
  const float* cos;         /* cos[pos * cos_sin_stride + j], j < rotary_dim / 2 */
  const float* sin;         /* sin[pos * cos_sin_stride + j] */
  long long cos_sin_stride; /* elements between consecutive positions of cos and sin */

  /* ---- KV cache: cache ops; layout from the spec's cache field ---- */
  void* k_cache;
  void* v_cache;
  long long max_seq;        /* contiguous(order = hnd): slots per head in the cache; a slot
                               >= max_seq skips the cache write like padding */

  /* ---- limits (ABI version 3), read in every checks mode; 0: no limit. A token outside
     them is skipped whole: q, k, q_out, k_out and the caches keep what they hold ---- */
  long long cache_slots;            /* slots the caches (and the scale tensors a quantized
                                       cache writes) hold (paged: blocks * block;
                                       contiguous: max_seq; MLA: rows); cache ops: a slot
                                       (the position without slot_mapping) >= cache_slots
                                       is skipped. 0 .. 2^56 - 1; checks = bounds: > 0 */
  long long table_rows;             /* positions the cos/sin table holds (cos_sin = table);
                                       a position (any row) < 0 or >= table_rows is
                                       skipped. 0 .. 2^56 - 1; checks = bounds: > 0 */
  unsigned long long* bounds_error; /* checks = bounds only. Device memory, 4 words zeroed
                                       by the caller:
                                       [0] = 1 once a violation was recorded, [1] = token,
                                       [2] = offending value (a signed 64-bit integer),
                                       [3] = limit | (kind << 56), kind 1 = position,
                                       2 = slot; ropegen_kernel_check reads it, zeroing
                                       it resets it */

  /* ---- layouts and run-time lengths (ABI version 4); zero/null: the defaults ---- */
  long long q_head_stride;  /* elements between heads of q; 0: head_dim (heads packed) */
  long long k_head_stride;  /* of k */
  long long v_head_stride;  /* of v */
  void* q_out;              /* rope ops: the rotated q goes here, [tokens, q_heads, head_dim]
                               with heads packed; null: q is rotated in place */
  long long q_out_stride;   /* elements between tokens of q_out */
  void* k_out;              /* rope: the rotated k goes here instead of in place;
                               rope_kv_append: the rotated k is also written here */
  long long k_out_stride;
  long long positions_stride; /* positions = mrope/imrope: positions is [3, tokens] (t, h, w
                                 rows), elements between rows; 0: num_tokens */
  const void* seq_lens;     /* index-typed, one per token: the length of the token's sequence
                               (dynamic and longrope with choose = runtime) */

  /* ---- fp8 scales and QK-RMSNorm weights (ABI version 4), device memory ---- */
  const float* k_scale;     /* cache_dtype = fp8: k is stored as x / k_scale[0] (per_tensor) or
                               x / k_scale[kv_head] (per_head) */
  const float* v_scale;     /* the same for v */
  const float* q_scale;     /* q_dtype = fp8: q_out holds q / q_scale[0] */
  const void* q_norm_weight; /* qk_norm = rms(...): head_dim weights of the activation dtype */
  const void* k_norm_weight;

  /* ---- quantized caches (ABI version 5), device memory written by the kernel ---- */
  void* k_cache_scales;     /* the scales the kernel computes for the k cache, laid out as the
                               cache with a head row of head_dim / group scales: f32 per (slot,
                               head) for scales = per_token_head (int4: the zero point in the
                               low 4 bits), e4m3 bytes per 16 elements (nvfp4), e8m0 bytes per
                               32 (mxfp4) */
  void* v_cache_scales;     /* the same for the v cache */
  float* q_out_scales;      /* q_scales = per_token_head: the kernel writes q_out's scale per
                               (token, head) here, [tokens, q_heads] f32 */

  /* ---- cache addressing (ABI version 6) ---- */
  long long cache_block_stride; /* cache = paged(order = strided): elements between pages of
                                   k_cache and of v_cache (one set of strides for both);
                                   0: block * kv_heads * head_dim. A quantized cache with
                                   scales_at = page: bytes between pages (0: one page of
                                   codes and scales; K and V pages in one allocation:
                                   twice that, v_cache one page after k_cache) */
  long long cache_token_stride; /* elements between the tokens of a page; 0: kv_heads * head_dim */
  long long cache_head_stride;  /* elements between the heads of a token; 0: head_dim. K and V
                                   in one tensor ([N, 2, B, H, D], [2, N, B, H, D], ...): v_cache
                                   = k_cache + the K-to-V distance, the same strides */
  const void* ring_base;        /* window = ring(...): index-typed, one per token: the first slot
                                   of the token's sequence's own pages (a multiple of block; the
                                   engine's base slot of that sequence, repeated per token); the
                                   kernel writes slot ring_base + ring slot of the position; a
                                   negative base is padding. slot_mapping is not read */

  /* ---- sums across launches and token grids (ABI version 7) ---- */
  float* norm_sums;             /* qk_norm = rms(span = all_heads, sums = write | read): [tokens, 2] f32,
                                   per token the sum of squares of its q heads' elements, then of its
                                   k heads' (the heads of this launch). sums = write: the kernel
                                   writes them and nothing else; sums = read: the kernel reads them
                                   (added over the ranks, e.g. by an all-reduce) and divides by
                                   ranks * heads * head_dim */
  long long grid_h;             /* positions = grid(...): the height and width of the token grid. A
                                   token's position p (its index in its video, frames outermost) is */
  long long grid_w;             /* frame p / (grid_h * grid_w), row (p / grid_w) % grid_h, column
                                   p % grid_w; both > 0 there, 0 otherwise */
  const void* q_bias;           /* bias = qkv: added to q's rows as they are read ([q_heads, head_dim];
                                   gate = interleaved: [q_heads, 2 * head_dim], q then gate), */
  const void* k_bias;           /* k's ([kv_heads, head_dim]) and v's, in the activation dtype, in fp32 */
  const void* v_bias;           /* and rounded to the dtype, before the norms and the rotation */
  void* gate_out;               /* gate = interleaved: each q head's gate half, [tokens, q_heads,
                                   head_dim] with heads packed */
  long long gate_out_stride;    /* elements between tokens of gate_out */

  /* ---- many layers in one launch (ABI version 8): layers = many; zero otherwise ---- */
  long long num_layers;              /* the layers this launch writes, 1 .. 65535 (grid z) */
  const ropegen_layer_args* layers;  /* device memory: num_layers records; layer l takes its caches,
                                        scales, outputs, norm weights and biases from layers[l] */
  long long q_layer_stride;          /* elements from layer l's q to layer l + 1's: layer l reads q +
                                        l * q_layer_stride (rows and head strides as for one layer) */
  long long k_layer_stride;          /* of k */
  long long v_layer_stride;          /* of v; positions, slot_mapping, ring_base, seq_lens, cos, sin
                                        and bounds_error are shared by the layers */
} ropegen_kernel_args;

#ifndef ROPEGEN_KERNEL_SOURCE /* defined by the generated kernels, which only read the block */
/* An argument block with its header filled in and every other field zero. */
static inline ropegen_kernel_args ropegen_kernel_args_init(void) {
#ifdef __cplusplus
  ropegen_kernel_args a = {};
#else
  ropegen_kernel_args a = {0};
#endif
  a.size = (unsigned int)sizeof(ropegen_kernel_args);
  a.abi_version = ROPEGEN_KERNEL_ABI_VERSION;
  return a;
}
#define ROPEGEN_KERNEL_ARGS_INIT ropegen_kernel_args_init()
#endif

#endif /* ROPEGEN_KERNEL_ARGS_H */
