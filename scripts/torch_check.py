#!/usr/bin/env python3
"""ropegen through its C API (ctypes) on PyTorch tensors, against a PyTorch implementation
of the same formulas. Run on a CUDA machine:  python3 scripts/torch_check.py build/libropegen_c.so
Exits non-zero on any mismatch."""
import ctypes
import sys

import torch


class Args(ctypes.Structure):
    _fields_ = [(n, ctypes.c_void_p) for n in
                ("q", "k", "v", "k_cache", "v_cache", "positions", "slot_mapping", "cos", "sin")] + \
               [(n, ctypes.c_longlong) for n in
                ("num_tokens", "q_stride", "k_stride", "v_stride", "cos_sin_stride", "max_seq")]


def main(lib_path):
    lib = ctypes.CDLL(lib_path)
    lib.ropegen_last_error.restype = ctypes.c_char_p
    ctx, kernel = ctypes.c_void_p(), ctypes.c_void_p()

    def ok(status, what):
        if status != 0:
            raise SystemExit(f"{what}: status {status}: {lib.ropegen_last_error().decode()}")

    torch.cuda.init()
    torch.zeros(1, device="cuda")  # PyTorch makes the primary context current first
    ok(lib.ropegen_context_create(b"cuda", -1, ctypes.byref(ctx)), "context")
    failures = 0
    for dtype_name, dtype in (("bf16", torch.bfloat16), ("f16", torch.float16), ("f32", torch.float32)):
        for style in ("neox", "gptj"):
            T, QH, KVH, D, B = 77, 32, 8, 128, 16
            spec = f"head_dim={D} q_heads={QH} kv_heads={KVH} dtype={dtype_name} style={style} " \
                   f"cache=paged(block={B},order=nhd) index=i64"
            ok(lib.ropegen_kernel_create(ctx, spec.encode(), ctypes.byref(kernel)), spec)
            g = torch.Generator(device="cuda").manual_seed(3)
            # Packed QKV, as engines produce it.
            qkv = torch.randn(T, (QH + 2 * KVH) * D, device="cuda", generator=g).to(dtype)
            q, k, v = qkv[:, :QH * D], qkv[:, QH * D:(QH + KVH) * D], qkv[:, (QH + KVH) * D:]
            max_pos = 4096
            inv = 1.0 / (10000.0 ** (torch.arange(0, D, 2, device="cuda", dtype=torch.float64) / D))
            ang = torch.arange(max_pos, device="cuda", dtype=torch.float64)[:, None] * inv[None, :]
            cos_sin = torch.cat([ang.cos(), ang.sin()], dim=1).float().contiguous()  # vLLM layout
            pos = torch.randint(0, max_pos, (T,), device="cuda", generator=g)
            nblocks = (2 * T + B - 1) // B
            slots = torch.randperm(nblocks * B, device="cuda", generator=g)[:T]
            slots[5] = -1  # padding
            k_cache = torch.zeros(nblocks, B, KVH, D, device="cuda", dtype=dtype)
            v_cache = torch.zeros_like(k_cache)
            q_ref, k_in = q.clone(), k.clone()
            a = Args(q.data_ptr(), k.data_ptr(), v.data_ptr(), k_cache.data_ptr(), v_cache.data_ptr(),
                     pos.data_ptr(), slots.data_ptr(), cos_sin.data_ptr(), cos_sin.data_ptr() + 4 * (D // 2),
                     T, qkv.stride(0), qkv.stride(0), qkv.stride(0), D, 0)
            stream = torch.cuda.current_stream().cuda_stream
            ok(lib.ropegen_kernel_launch(kernel, ctypes.byref(a), ctypes.c_void_p(stream)), "launch")
            torch.cuda.synchronize()

            # PyTorch reference of the same formulas (fp32 math on the fp32 table values).
            c, s = cos_sin[pos, :D // 2], cos_sin[pos, D // 2:]

            def rope(x, heads):
                x = x.float().view(T, heads, D)
                if style == "neox":
                    x0, x1 = x[..., :D // 2], x[..., D // 2:]
                    cc, ss = c[:, None, :], s[:, None, :]
                    return torch.cat([x0 * cc - x1 * ss, x1 * cc + x0 * ss], dim=-1)
                x0, x1 = x[..., 0::2], x[..., 1::2]
                cc, ss = c[:, None, :], s[:, None, :]
                return torch.stack([x0 * cc - x1 * ss, x1 * cc + x0 * ss], dim=-1).flatten(-2)

            want_q = rope(q_ref, QH)
            want_k = rope(k_in, KVH)
            got_q = q.float().view(T, QH, D)
            keep = slots >= 0
            kc = k_cache.view(-1, KVH, D)[slots[keep]].float()
            vc = v_cache.view(-1, KVH, D)[slots[keep]].float()
            ulp = {"bf16": 2.0 ** -7, "f16": 2.0 ** -10, "f32": 2.0 ** -22}[dtype_name]
            tol = lambda ref: ulp * ref.abs().clamp(min=2.0 ** -6) + 1e-6
            errs = {
                "q": ((got_q - want_q).abs() > tol(want_q)).sum().item(),
                "k_cache": ((kc - want_k[keep]).abs() > tol(want_k[keep])).sum().item(),
                "v_cache": (vc != v.float().view(T, KVH, D)[keep]).sum().item(),
                "k unchanged": (k.float() != k_in.float()).sum().item(),
                "padding slot untouched": int(k_cache.abs().sum().item() == 0),
            }
            errs["padding slot untouched"] = 0  # checked below by count of written rows
            written = (k_cache.view(-1, KVH, D).abs().sum(dim=(1, 2)) > 0).sum().item()
            if written > keep.sum().item():
                errs["padding slot untouched"] = 1
            bad = {n: e for n, e in errs.items() if e}
            print(f"{'PASS' if not bad else 'FAIL'} torch {dtype_name} {style}: "
                  f"max|dq| {(got_q - want_q).abs().max().item():.3g}  {bad if bad else ''}")
            failures += bool(bad)
            lib.ropegen_kernel_destroy(kernel)
    lib.ropegen_context_destroy(ctx)
    print(f"{6 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/libropegen_c.so"))
