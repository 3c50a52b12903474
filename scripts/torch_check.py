#!/usr/bin/env python3
"""ropegen through its C API (ctypes) on PyTorch tensors, against a PyTorch implementation
of the same formulas. Run on a CUDA machine:  python3 scripts/torch_check.py build/libropegen_c.so
Exits non-zero on any mismatch."""
import ctypes
import sys

import torch


P, I = ctypes.c_void_p, ctypes.c_longlong


class Args(ctypes.Structure):
    """Mirror of ropegen_kernel_args (include/ropegen/kernel_args.h), checked at start-up
    against the layout the library reports."""
    _fields_ = [("size", ctypes.c_uint), ("abi_version", ctypes.c_uint), ("num_tokens", I),
                ("positions", P), ("slot_mapping", P), ("q", P), ("q_stride", I), ("k", P), ("k_stride", I),
                ("v", P), ("v_stride", I), ("cos", P), ("sin", P), ("cos_sin_stride", I),
                ("k_cache", P), ("v_cache", P), ("max_seq", I)]


class Field(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("offset", ctypes.c_size_t), ("size", ctypes.c_size_t)]


def check_layout(lib):
    """Returns the ABI version after checking Args field by field against the library."""
    lib.ropegen_kernel_args_layout.restype = ctypes.POINTER(Field)
    n, size, version = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_uint()
    fields = lib.ropegen_kernel_args_layout(ctypes.byref(n), ctypes.byref(size), ctypes.byref(version))
    theirs = [(fields[i].name.decode(), fields[i].offset, fields[i].size) for i in range(n.value)]
    ours = [(name, getattr(Args, name).offset, getattr(Args, name).size) for name, _ in Args._fields_]
    if theirs != ours or size.value != ctypes.sizeof(Args):
        raise SystemExit(f"Args does not match the library's ropegen_kernel_args:\n ours   {ours}\n theirs {theirs}")
    return version.value


def main(lib_path):
    lib = ctypes.CDLL(lib_path)
    lib.ropegen_last_error.restype = ctypes.c_char_p
    ctx, kernel = ctypes.c_void_p(), ctypes.c_void_p()

    def ok(status, what):
        if status != 0:
            raise SystemExit(f"{what}: status {status}: {lib.ropegen_last_error().decode()}")

    torch.cuda.init()
    torch.zeros(1, device="cuda")  # PyTorch makes the primary context current first
    abi = check_layout(lib)
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
            a = Args(size=ctypes.sizeof(Args), abi_version=abi, num_tokens=T, positions=pos.data_ptr(),
                     slot_mapping=slots.data_ptr(), q=q.data_ptr(), q_stride=qkv.stride(0), k=k.data_ptr(),
                     k_stride=qkv.stride(0), v=v.data_ptr(), v_stride=qkv.stride(0), cos=cos_sin.data_ptr(),
                     sin=cos_sin.data_ptr() + 4 * (D // 2), cos_sin_stride=D, k_cache=k_cache.data_ptr(),
                     v_cache=v_cache.data_ptr(), max_seq=0)
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
