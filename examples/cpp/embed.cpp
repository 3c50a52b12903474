// Embedding ropegen in a C++ engine: ask for a kernel by spec, fill the argument struct
// with your own buffers, launch on your stream. Runs on the GPU this process sees (CUDA),
// else on the host target. Build: see examples/CMakeLists.txt.
#include <cstdio>
#include <vector>

#include "ropegen/ropegen.hpp"

int main(int argc, char** argv) {
  try {
    auto ctx = ropegen::Context::open(argc > 1 ? argv[1] : "auto");
    std::printf("device: %s\n", ctx->runtime().device_name().c_str());

    // Llama-3-8B's layer: 32 Q heads, 8 KV heads, head_dim 128, bf16, paged cache.
    ropegen::KernelSpec spec = ropegen::SpecBuilder().head_dim(128).heads(32, 8).dtype(ropegen::DType::BF16).paged(16).build();
    auto kernel = ctx->kernel(spec);
    std::printf("kernel: %s\n", kernel->describe().c_str());

    // The engine's own buffers: here a small batch of 4 tokens in a 4-block paged cache.
    ropegen::Runtime& rt = ctx->runtime();
    const long long T = 4, D = 128, QH = 32, KVH = 8, B = 16, blocks = 4;
    std::vector<unsigned short> q(T * QH * D, 0x3f80), k(T * KVH * D, 0x3f80), v(T * KVH * D, 0x4000);  // 1.0, 1.0, 2.0
    std::vector<int> positions = {0, 1, 2, 3}, slots = {5, 17, -1, 40};  // slot -1: padding
    std::vector<float> cos_sin(64 * D);  // [max_pos = 64, rot] = [cos | sin]
    for (int p = 0; p < 64; ++p)
      for (int j = 0; j < D / 2; ++j) {
        cos_sin[p * D + j] = 1.0f;  // angle 0: a rotation that leaves values as they are
        cos_sin[p * D + D / 2 + j] = 0.0f;
      }
    auto upload = [&](const void* data, size_t bytes) {
      void* p = rt.alloc(bytes);
      rt.copy_to_device(p, data, bytes);
      return p;
    };
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    a.q = upload(q.data(), q.size() * 2);
    a.k = upload(k.data(), k.size() * 2);
    a.v = upload(v.data(), v.size() * 2);
    std::vector<unsigned short> zeros(blocks * B * KVH * D, 0);
    a.k_cache = upload(zeros.data(), zeros.size() * 2);
    a.v_cache = upload(zeros.data(), zeros.size() * 2);
    a.positions = upload(positions.data(), positions.size() * 4);
    a.slot_mapping = upload(slots.data(), slots.size() * 4);
    const float* table = static_cast<const float*>(upload(cos_sin.data(), cos_sin.size() * 4));
    a.cos = table;
    a.sin = table + D / 2;
    a.cos_sin_stride = D;
    a.num_tokens = T;
    a.q_stride = QH * D;
    a.k_stride = a.v_stride = KVH * D;
    a.cache_slots = blocks * B;  // the limits: a token past the cache or the table is skipped
    a.table_rows = 64;
    kernel->launch(a, /*stream=*/nullptr);
    rt.synchronize();
    std::vector<unsigned short> vcache(zeros.size());
    rt.copy_to_host(vcache.data(), a.v_cache, vcache.size() * 2);
    std::printf("v_cache slot 17, head 0, element 0: 0x%04x (expect 0x4000 = 2.0)\n", vcache[(17 * KVH) * D]);
    const bool ok = vcache[(17 * KVH) * D] == 0x4000 && vcache[(16 * KVH) * D] == 0;
    for (void* p : {a.q, a.k, const_cast<void*>(a.v), a.k_cache, a.v_cache, const_cast<void*>(a.positions),
                    const_cast<void*>(a.slot_mapping), const_cast<void*>(static_cast<const void*>(table))})
      rt.free(p);

    // And a full check of the kernel against ropegen's reference.
    const bool verified = ctx->verify(*kernel);
    std::printf("verify against the reference: %s\n", verified ? "PASS" : "FAIL");
    std::printf("%s\n", ok && verified ? "example OK" : "example FAILED");
    return ok && verified ? 0 : 1;
  } catch (const ropegen::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
