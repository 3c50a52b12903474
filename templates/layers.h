// layers = many: one launch writes many layers, one per block of grid z. The kernel runs the
// single-layer body on an argument block of its own layer: q, k and v moved by the layer
// strides, and the layer's record (ropegen_layer_args) in place of the block's caches, scales,
// outputs, norm weights and biases. Everything else (positions, slots, cos/sin) is shared.
namespace rg_layers {

template <class T>
RG_DEVICE T* rg_layer_ptr(T* p, long long layer, long long stride) {
  return p ? p + layer * stride : p;
}

RG_DEVICE ropegen_kernel_args layer_args(const ropegen_kernel_args& a, int layer) {
  using rg_spec::Elem;
  ropegen_kernel_args l = a;
  const ropegen_layer_args& r = a.layers[layer];
  l.q = rg_layer_ptr(static_cast<Elem*>(a.q), layer, a.q_layer_stride);
  l.k = rg_layer_ptr(static_cast<Elem*>(a.k), layer, a.k_layer_stride);
  l.v = rg_layer_ptr(static_cast<const Elem*>(a.v), layer, a.v_layer_stride);
  l.k_cache = r.k_cache;
  l.v_cache = r.v_cache;
  l.k_cache_scales = r.k_cache_scales;
  l.v_cache_scales = r.v_cache_scales;
  l.k_scale = r.k_scale;
  l.v_scale = r.v_scale;
  l.q_scale = r.q_scale;
  l.q_out = r.q_out;
  l.k_out = r.k_out;
  l.q_out_scales = r.q_out_scales;
  l.gate_out = r.gate_out;
  l.q_norm_weight = r.q_norm_weight;
  l.k_norm_weight = r.k_norm_weight;
  l.q_bias = r.q_bias;
  l.k_bias = r.k_bias;
  l.v_bias = r.v_bias;
  return l;
}

}  // namespace rg_layers
