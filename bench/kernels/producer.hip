// A producer that writes q, k and v of the Llama-3-8B bf16 shape (as the end of a QKV
// projection would) and lets its dependent launch start early (programmatic dependent
// launch), one block per token.

RG_KERNEL(256) rg_producer(ropegen_kernel_args a) {
  rg_allow_next_grid();
  const long long t = rg_block_x();
  if (t >= a.num_tokens) return;
  unsigned* q = static_cast<unsigned*>(a.q) + t * a.q_stride / 2;
  unsigned* k = static_cast<unsigned*>(a.k) + t * a.k_stride / 2;
  unsigned* v = static_cast<unsigned*>(const_cast<void*>(a.v)) + t * a.v_stride / 2;
  const unsigned one = 0x3f803f80u;  // two bf16 1.0
  for (int i = rg_thread_x(); i < 32 * 128 / 2; i += 256) q[i] = one;
  for (int i = rg_thread_x(); i < 8 * 128 / 2; i += 256) {
    k[i] = one;
    v[i] = one;
  }
}
