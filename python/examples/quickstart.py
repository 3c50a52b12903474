"""ropegen from Python in ten lines: RoPE + KV-cache append on CPU tensors (and on CUDA when present)."""
import torch, ropegen

for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
    k = ropegen.kernel("head_dim=128 q_heads=32 kv_heads=8 dtype=bf16 index=i64", device=device)
    T, opts = 4, dict(device=device, dtype=torch.bfloat16)
    q, key, v = torch.randn(T, 32, 128, **opts), torch.randn(T, 8, 128, **opts), torch.randn(T, 8, 128, **opts)
    k_cache, v_cache = torch.zeros(8, 16, 8, 128, **opts), torch.zeros(8, 16, 8, 128, **opts)  # paged, block 16
    ang = torch.arange(4096., device=device)[:, None] * 10000 ** (-torch.arange(0, 128, 2, device=device) / 128)
    k(q=q, k=key, v=v, k_cache=k_cache, v_cache=v_cache, positions=torch.arange(T, device=device),
      slot_mapping=torch.tensor([0, 1, 2, 17], device=device), cos_sin_cache=torch.cat([ang.cos(), ang.sin()], 1))
    assert torch.equal(v_cache[1, 1], v[3]), "token 3 went to slot 17 (block 1, offset 1)"
    print(f"{device}: {k.target}, q rotated in place, K and V appended to the paged cache")
