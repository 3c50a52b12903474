"""The package on the host target (CI): numerics against reference.py, argument errors,
the PyTorch operator, the generated argument block. Run: python3 -m pytest python/tests"""
import ctypes
import os
import re
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paths  # noqa: E402,F401  (the package and library from a source checkout)
import ropegen  # noqa: E402
from ropegen import _lib  # noqa: E402
from cases import Case, run  # noqa: E402
import families  # noqa: E402
import host  # noqa: E402

try:
    import torch
except ImportError:  # the numerics with NumPy storage still run
    torch = None
NO_TORCH = "PyTorch is not installed (Debian: python3-torch)"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


NO_HOST = host.compiler_missing()


@unittest.skipIf(NO_HOST, NO_HOST or "")
class Numerics(unittest.TestCase):
    """Each case checks q, k, both caches (rows written, rows untouched) and pass-through."""

    def test_neox_f32_paged_gqa_padding_numpy(self):
        run(Case(style="neox", dtype="f32", cache="paged", order="nhd", q_heads=8, kv_heads=2))

    def test_gptj_f16_contiguous_hnd_partial_numpy(self):
        run(Case(style="gptj", dtype="f16", cache="contiguous", order="hnd", head_dim=64, rot=32))

    def test_neox_f16_contiguous_nhd_positions_are_slots_numpy(self):
        run(Case(dtype="f16", cache="contiguous", order="nhd", slots_given=False, pad=False))

    def test_rope_only_f32_packed_partial_numpy(self):
        run(Case(op="rope", dtype="f32", rot=48, packed=True, q_heads=4, kv_heads=4, index="i64"))

    def test_kv_append_f16_paged_hnd_numpy(self):
        run(Case(op="kv_append", dtype="f16", cache="paged", order="hnd", block=8))

    def test_dlpack_producer(self):
        """Arrays seen only through __dlpack__ (a wrapper hides NumPy's __array_interface__)."""
        if not hasattr(np.ndarray, "__dlpack__"):
            self.skipTest("this NumPy has no __dlpack__")

        class OnlyDLPack:
            def __init__(self, a):
                self.a = a

            def __dlpack__(self, stream=None):
                return self.a.__dlpack__()

            def __dlpack_device__(self):
                return self.a.__dlpack_device__()

        spec = "head_dim=64 kv_heads=2 dtype=f32 cache=contiguous(order=nhd) op=kv_append"
        k = ropegen.kernel(spec, device="cpu")
        kk = np.arange(3 * 2 * 64, dtype=np.float32).reshape(3, 2, 64)
        v = -kk
        kc, vc = np.zeros((10, 2, 64), np.float32), np.zeros((10, 2, 64), np.float32)
        slots = np.array([4, -1, 9], np.int32)
        k(k=OnlyDLPack(kk), v=OnlyDLPack(v), k_cache=OnlyDLPack(kc), v_cache=OnlyDLPack(vc),
          slot_mapping=OnlyDLPack(slots))
        np.testing.assert_array_equal(kc[[4, 9]], kk[[0, 2]])
        np.testing.assert_array_equal(vc[[4, 9]], v[[0, 2]])
        self.assertEqual(np.count_nonzero(kc[[0, 1, 2, 3, 5, 6, 7, 8]]), 0)

    @unittest.skipIf(torch is None, NO_TORCH)
    def test_neox_bf16_packed_paged_hnd_cos_sin_cache_torch(self):
        run(Case(dtype="bf16", backend="torch", packed=True, cache="paged", order="hnd", table="cos_sin_cache",
                 index="i64"))

    @unittest.skipIf(torch is None, NO_TORCH)
    def test_gptj_bf16_contiguous_nhd_partial_torch(self):
        run(Case(style="gptj", dtype="bf16", backend="torch", cache="contiguous", order="nhd", rot=32, q_heads=16,
                 kv_heads=1))

    @unittest.skipIf(torch is None, NO_TORCH)
    def test_rope_f16_torch_packed(self):
        run(Case(op="rope", dtype="f16", backend="torch", packed=True, table="cos_sin_cache", q_heads=6, kv_heads=3))

    @unittest.skipIf(torch is None, NO_TORCH)
    def test_f32_torch_two_dim_rows(self):
        """[tokens, heads * head_dim] rows are accepted like [tokens, heads, head_dim]."""
        run(Case(dtype="f32", backend="torch", packed=True, table="cos_sin_cache"))


@unittest.skipIf(NO_HOST, NO_HOST or "")
class Api(unittest.TestCase):
    def test_spec_from_keywords_and_cache(self):
        self.assertEqual(ropegen.spec_text(head_dim=128, dtype="bf16"), "head_dim=128 dtype=bf16")
        self.assertEqual(ropegen.spec_text("op=rope", cache="x"), "op=rope cache=x")
        a = ropegen.kernel(head_dim=64, q_heads=4, kv_heads=2, dtype="f32", device="cpu")
        b = ropegen.kernel("head_dim=64 q_heads=4 kv_heads=2 dtype=f32", device="cpu")
        self.assertIs(a, b)  # same context (cached per runtime/device), same spec text
        self.assertIs(ropegen.context("cpu"), a.context)
        self.assertIn("head_dim=64", a.spec)
        self.assertEqual(a.target, "host")
        c = ropegen.kernel(head_dim=64, q_heads=4, kv_heads=2, dtype="f32", cache="paged(block=8,order=hnd)",
                           device="cpu")
        self.assertIn("cache=paged(block=8,order=hnd)", c.spec)

    def test_context_with_options(self):
        ctx = ropegen.Context("host", cache_dir="", verbose=False)  # memory-only cache
        k = ropegen.kernel("op=rope head_dim=32 q_heads=2 kv_heads=1 dtype=f32", context=ctx)
        self.assertIs(k.context, ctx)
        self.assertEqual(k.description["origin"], "compiled")

    def test_contexts_and_kernels_are_freed_in_any_order(self):
        import gc
        for i in range(6):
            ctx = ropegen.Context("host", cache_dir="")
            k = ctx.kernel("op=rope head_dim=32 q_heads=2 kv_heads=1 dtype=f32")
            if i % 2:
                del ctx  # the kernel keeps its context alive
                self.assertIsNotNone(k.context._handle)
            ctx = k = None
            gc.collect()
        defaults = list(ropegen._kernel._contexts.values())
        leaked = [k for k in ropegen._registry.kernels() if not any(k.context is c for c in defaults)]
        self.assertEqual(leaked, [], "kernels of dropped contexts stay registered")

    def test_spec_errors_carry_status(self):
        with self.assertRaises(ropegen.Error) as e:
            ropegen.kernel("head_dim==64", device="cpu")
        self.assertEqual(e.exception.status, "ROPEGEN_ERROR_PARSE")
        self.assertEqual(e.exception.fault, 1)
        with self.assertRaises(ropegen.Error) as e:
            ropegen.kernel("head_dim=64 q_heads=6 kv_heads=4", device="cpu")
        self.assertEqual(e.exception.status, "ROPEGEN_ERROR_SPEC")
        self.assertIn("kv_heads", str(e.exception))
        with self.assertRaises(ropegen.Error):
            ropegen.kernel(device="cpu")
        with self.assertRaises(ropegen.Error):
            ropegen.kernel("head_dim=64", device="tpu")

    def test_stream_argument(self):
        k = ropegen.kernel("op=rope head_dim=32 q_heads=2 kv_heads=1 dtype=f32", device="cpu")
        q = np.ones((2, 2, 32), np.float32)
        args = dict(q=q, k=np.ones((2, 1, 32), np.float32), positions=np.array([1, 3], np.int32),
                    cos=np.full((4, 16), 0.5, np.float32), sin=np.full((4, 16), 0.25, np.float32))
        k(stream=ctypes.c_void_p(None), **args)  # the host runtime runs in the call
        self.assertTrue(np.allclose(q[:, :, :16], 0.25) and np.allclose(q[:, :, 16:], 0.75))
        with self.assertRaises(ropegen.Error):
            k(stream="fast", **args)

    def test_zero_tokens_is_a_no_op(self):
        k = ropegen.kernel("op=rope head_dim=32 q_heads=2 kv_heads=1 dtype=f32", device="cpu")
        k(q=np.zeros((0, 2, 32), np.float32), k=np.zeros((0, 1, 32), np.float32), positions=np.zeros(0, np.int32),
          cos=np.zeros((4, 16), np.float32), sin=np.zeros((4, 16), np.float32))


@unittest.skipIf(NO_HOST, NO_HOST or "")
class CacheAddressing(unittest.TestCase):
    """cache = paged(order = strided): any [N, B, H, D] view with a contiguous head row, K and V
    halves of one stacked tensor; window = ring(...) through ring_base. The package needs no
    code of its own for them: the strides come from the kernel's description (dim_strides)."""

    D, H, B, N = 32, 2, 4, 3
    SPEC = "op=kv_append dtype=f32 head_dim=32 kv_heads=2 cache=paged(block=4,order=strided)"

    def inputs(self, T=5):
        rng = np.random.default_rng(7)
        k = rng.standard_normal((T, self.H, self.D)).astype(np.float32)
        v = rng.standard_normal((T, self.H, self.D)).astype(np.float32)
        slots = np.array([0, 5, 11, -1, 6][:T], np.int32)
        return k, v, slots

    def expect(self, kc, vc, k, v, slots):
        want_k, want_v = kc.clone(), vc.clone()
        for t, s in enumerate(slots):
            if s >= 0:
                want_k[s // self.B, s % self.B] = torch.from_numpy(k[t])
                want_v[s // self.B, s % self.B] = torch.from_numpy(v[t])
        return want_k, want_v

    @unittest.skipIf(torch is None, NO_TORCH)
    def test_stacked_and_permuted_layouts(self):
        kern = ropegen.kernel(self.SPEC, device="cpu")
        k, v, slots = self.inputs()
        N, B, H, D = self.N, self.B, self.H, self.D
        layouts = {
            "[N, 2, B, H, D]": lambda: (lambda kv: (kv[:, 0], kv[:, 1]))(torch.full((N, 2, B, H, D), -7.0)),
            "[2, N, B, H, D]": lambda: (lambda kv: (kv[0], kv[1]))(torch.full((2, N, B, H, D), -7.0)),
            "[N, 2, H, B, D]": lambda: (lambda kv: (kv[:, 0].transpose(1, 2), kv[:, 1].transpose(1, 2)))(
                torch.full((N, 2, H, B, D), -7.0)),
            "[H, B, N, D]": lambda: tuple(torch.full((H, B, N, D), -7.0).permute(2, 1, 0, 3) for _ in range(2)),
        }
        for name, make in layouts.items():
            with self.subTest(layout=name):
                kc, vc = make()
                want_k, want_v = self.expect(kc, vc, k, v, slots)
                kern(k=k, v=v, slot_mapping=slots, k_cache=kc, v_cache=vc)
                self.assertTrue(torch.equal(kc, want_k), name)
                self.assertTrue(torch.equal(vc, want_v), name)

    @unittest.skipIf(torch is None, NO_TORCH)
    def test_bad_cache_strides_name_the_argument(self):
        kern = ropegen.kernel(self.SPEC, device="cpu")
        k, v, slots = self.inputs()
        N, B, H, D = self.N, self.B, self.H, self.D
        kv = torch.zeros((N, 2, B, H, D))
        with self.assertRaisesRegex(ropegen.ArgumentError, r"'v_cache'.*differs from k_cache's 512; both share cache_block_stride"):
            kern(k=k, v=v, slot_mapping=slots, k_cache=kv[:, 0], v_cache=torch.zeros((N, H, B, D)).transpose(1, 2))
        with self.assertRaisesRegex(ropegen.ArgumentError, r"'k_cache'.*dimension 3 must be contiguous"):
            kern(k=k, v=v, slot_mapping=slots, k_cache=torch.zeros((N, B, H, 2 * D))[..., ::2], v_cache=kv[:, 1])

    def test_amd_layouts(self):
        # K [N, H, D / x, B, x] (x = 4 f32 elements = 16 bytes); V [N, H, D, B] or [N, H, B / x, D, x].
        N, H, D, B, x = 2, 2, 32, 8, 4
        rng = np.random.default_rng(5)
        k = rng.standard_normal((3, H, D)).astype(np.float32)
        v = rng.standard_normal((3, H, D)).astype(np.float32)
        slots = np.array([0, 13, -1], np.int32)
        for order in ("amd", "amd_shuffle"):
            with self.subTest(order=order):
                kern = ropegen.kernel(f"op=kv_append dtype=f32 head_dim={D} kv_heads={H} "
                                      f"cache=paged(block={B},order={order})", device="cpu")
                kc = np.zeros((N, H, D // x, B, x), np.float32)
                vc = np.zeros((N, H, D, B) if order == "amd" else (N, H, B // x, D, x), np.float32)
                kern(k=k, v=v, slot_mapping=slots, k_cache=kc, v_cache=vc)
                for t, s in enumerate(slots[:2]):
                    page, off = divmod(int(s), B)
                    np.testing.assert_array_equal(kc[page, :, :, off, :].reshape(H, D), k[t])
                    got_v = vc[page, :, :, off] if order == "amd" else vc[page, :, off // x, :, off % x]
                    np.testing.assert_array_equal(got_v, v[t])
                self.assertEqual(np.count_nonzero(kc), 2 * H * D)

    def test_amd_layouts_fp8_and_int8(self):
        # 1-byte codes: x = 16 codes a piece. The same kernel in the nhd layout gives the codes
        # (and int8's scales); the AMD layouts must hold those bytes where the layout puts them.
        N, H, D, B, x = 2, 2, 32, 16, 16
        rng = np.random.default_rng(6)
        k = rng.standard_normal((3, H, D)).astype(np.float32)
        v = rng.standard_normal((3, H, D)).astype(np.float32)
        slots = np.array([0, 29, -1], np.int32)
        for fmt in ("cache_dtype=fp8_e4m3", "cache_dtype=int8 scales=per_token_head"):
            extra = {} if "int8" in fmt else dict(k_scale=np.full(1, 0.5, np.float32), v_scale=np.full(1, 2.0, np.float32))
            spec = f"op=kv_append dtype=f32 head_dim={D} kv_heads={H} {fmt} cache=paged(block={B},order=%s)"
            code = np.int8 if "int8" in fmt else np.uint8
            want_k = np.zeros((N, B, H, D), code)
            want_v = want_k.copy()
            scales = {}
            if "int8" in fmt:
                scales = dict(k_cache_scales=np.zeros((N, B, H, 1), np.float32),
                              v_cache_scales=np.zeros((N, B, H, 1), np.float32))
            ropegen.kernel(spec % "nhd", device="cpu")(k=k, v=v, slot_mapping=slots, k_cache=want_k, v_cache=want_v,
                                                        **extra, **scales)
            for order in ("amd", "amd_shuffle"):
                with self.subTest(fmt=fmt, order=order):
                    kc = np.zeros((N, H, D // x, B, x), code)
                    vc = np.zeros((N, H, D, B) if order == "amd" else (N, H, B // x, D, x), code)
                    got_scales = {n: np.zeros_like(a) for n, a in scales.items()}
                    ropegen.kernel(spec % order, device="cpu")(k=k, v=v, slot_mapping=slots, k_cache=kc, v_cache=vc,
                                                               **extra, **got_scales)
                    for s in slots[:2]:
                        page, off = divmod(int(s), B)
                        np.testing.assert_array_equal(kc[page, :, :, off, :].reshape(H, D), want_k[page, off])
                        got_v = vc[page, :, :, off] if order == "amd" else vc[page, :, off // x, :, off % x]
                        np.testing.assert_array_equal(got_v, want_v[page, off])
                    self.assertEqual(np.count_nonzero(kc), np.count_nonzero(want_k))
                    for n, a in scales.items():
                        np.testing.assert_array_equal(got_scales[n], a)

    def test_ring_window(self):
        kern = ropegen.kernel("op=kv_append dtype=f32 head_dim=32 kv_heads=1 cache=paged(block=4) "
                              "window=ring(size=10,sinks=2)", device="cpu")
        rng = np.random.default_rng(3)
        k = rng.standard_normal((5, 1, 32)).astype(np.float32)
        v = rng.standard_normal((5, 1, 32)).astype(np.float32)
        kc = np.full((6, 4, 1, 32), -7.0, np.float32)
        vc = kc.copy()
        # One sequence in pages 3 .. 5 (base slot 12); L = 8, bubble 2: position 11 wraps to slot 12 + 5.
        kern(k=k, v=v, positions=np.array([0, 1, 2, 9, 11], np.int32), ring_base=np.full(5, 12, np.int32),
             k_cache=kc, v_cache=vc)
        want = np.full_like(kc, -7.0)
        for t, slot in enumerate([12, 13, 16, 23, 17]):
            want[slot // 4, slot % 4] = k[t]
        np.testing.assert_array_equal(kc, want)


@unittest.skipIf(NO_HOST, NO_HOST or "")
class Variants2026(unittest.TestCase):
    """positions = grid(...) takes grid=(height, width); the all-heads norm's sums go
    through norm_sums; rotary_dim = 0 rotates nothing."""

    GRID = "op=rope head_dim=16 q_heads=2 kv_heads=1 dtype=f32 style=gptj positions=grid(sections=[2,3,3]) " \
           "cos_sin=compute(theta=100)"

    @staticmethod
    def grid_reference(x, idx, h, w, sections=(2, 3, 3), theta=100.0):
        """3-D RoPE written from rope-math.md in float64: index j of section r (n_r indices)
        turns adjacent pair (2j, 2j + 1) by pos_r * theta^(-j'/n_r)."""
        out = x.astype(np.float64).copy()
        for t, p in enumerate(idx):
            pos = (p // (h * w), (p % (h * w)) // w, p % w)
            j = 0
            for r, n in enumerate(sections):
                for jp in range(n):
                    a = pos[r] * theta ** (-jp / n)
                    c, s = np.cos(a), np.sin(a)
                    x0, x1 = x[t, :, 2 * j].astype(np.float64), x[t, :, 2 * j + 1].astype(np.float64)
                    out[t, :, 2 * j], out[t, :, 2 * j + 1] = x0 * c - x1 * s, x1 * c + x0 * s
                    j += 1
        return out

    def test_per_head_tables(self):
        """cos_sin = table(per_head = true): [positions, kv_heads * rot/2] tables (or the
        combined cos_sin_cache); q head h turns by table h // (q_heads / kv_heads), NeoX
        halves, written here from the definition in float64."""
        kern = ropegen.kernel("op=rope head_dim=8 q_heads=4 kv_heads=2 dtype=f32 cos_sin=table(per_head=true)",
                              device="cpu")
        rng = np.random.default_rng(11)
        T, P = 5, 9
        q = rng.standard_normal((T, 4, 8)).astype(np.float32)
        k = rng.standard_normal((T, 2, 8)).astype(np.float32)
        pos = np.array([0, 3, 8, 1, 5], np.int32)
        ang = rng.uniform(-3, 3, (P, 2, 4))
        cos, sin = np.cos(ang).astype(np.float32).reshape(P, 8), np.sin(ang).astype(np.float32).reshape(P, 8)

        def want(x, head_of):
            out = x.astype(np.float64).copy()
            for t in range(T):
                for h in range(x.shape[1]):
                    c = cos.reshape(P, 2, 4)[pos[t], head_of(h)].astype(np.float64)
                    s = sin.reshape(P, 2, 4)[pos[t], head_of(h)].astype(np.float64)
                    x0, x1 = x[t, h, :4].astype(np.float64), x[t, h, 4:].astype(np.float64)
                    out[t, h, :4], out[t, h, 4:] = x0 * c - x1 * s, x1 * c + x0 * s
            return out

        qq, kk = q.copy(), k.copy()
        kern(q=qq, k=kk, positions=pos, cos=cos, sin=sin)
        np.testing.assert_allclose(qq, want(q, lambda h: h // 2), atol=2e-6)
        np.testing.assert_allclose(kk, want(k, lambda h: h), atol=2e-6)
        qq, kk = q.copy(), k.copy()
        kern(q=qq, k=kk, positions=pos, cos_sin_cache=np.concatenate([cos, sin], axis=1))
        np.testing.assert_allclose(qq, want(q, lambda h: h // 2), atol=2e-6)
        with self.assertRaisesRegex(ropegen.ArgumentError, r"expected \[max_position, 16\]"):
            kern(q=q.copy(), k=k.copy(), positions=pos, cos_sin_cache=np.ones((P, 8), np.float32))

    def test_grid_positions(self):
        kern = ropegen.kernel(self.GRID, device="cpu")
        rng = np.random.default_rng(5)
        q = rng.standard_normal((7, 2, 16)).astype(np.float32)
        k = rng.standard_normal((7, 1, 16)).astype(np.float32)
        idx = np.array([0, 1, 5, 11, 14, 23, 29], np.int32)  # a 2 x 3 x 5 grid
        want_q, want_k = self.grid_reference(q, idx, 3, 5), self.grid_reference(k, idx, 3, 5)
        for call in range(2):  # the second call takes the resolved block
            qq, kk = q.copy(), k.copy()
            kern(q=qq, k=kk, positions=idx, grid=(3, 5))
            np.testing.assert_allclose(qq, want_q, atol=2e-5)
            np.testing.assert_allclose(kk, want_k, atol=2e-5)
        # Another grid is another block, not the resolved one.
        qq = q.copy()
        kern(q=qq, k=k.copy(), positions=idx, grid=(5, 3))
        np.testing.assert_allclose(qq, self.grid_reference(q, idx, 5, 3), atol=2e-5)
        with self.assertRaisesRegex(ropegen.Error, r"grid_h' = 0 must be in 1 \.\. 2\^31 - 1"):
            kern(q=q.copy(), k=k.copy(), positions=idx)
        with self.assertRaisesRegex(ropegen.Error, "expected \\(height, width\\)"):
            kern(q=q.copy(), k=k.copy(), positions=idx, grid=3)
        plain = ropegen.kernel("op=rope head_dim=16 q_heads=2 kv_heads=1 dtype=f32 cos_sin=compute(theta=100)", device="cpu")
        with self.assertRaisesRegex(ropegen.Error, "no positions = grid"):
            plain(q=q.copy(), k=k.copy(), positions=idx, grid=(3, 5))

    @unittest.skipIf(torch is None, NO_TORCH)
    def test_grid_positions_through_the_operator(self):
        kern = ropegen.kernel(self.GRID, device="cpu")
        if kern.op is None:
            self.skipTest("this PyTorch has no torch.library")
        rng = np.random.default_rng(6)
        q = torch.from_numpy(rng.standard_normal((4, 2, 16)).astype(np.float32))
        k = torch.from_numpy(rng.standard_normal((4, 1, 16)).astype(np.float32))
        idx = torch.tensor([0, 7, 16, 29], dtype=torch.int32)
        want = self.grid_reference(q.numpy(), idx.numpy(), 3, 5)
        kern.op(kern.spec, q=q, k=k, positions=idx, grid_h=3, grid_w=5)
        np.testing.assert_allclose(q.numpy(), want, atol=2e-5)

    def test_norm_sums_protocol(self):
        # One rank: the sums the first launch writes, given to the second, normalize as the
        # one-launch kernel does (the same sums in the same order: equal to the last bit).
        base = "head_dim=32 q_heads=4 kv_heads=2 dtype=f32 cos_sin=compute(theta=10000) style=gptj"
        one = ropegen.kernel(f"op=rope {base} qk_norm=rms(eps=1e-6,span=all_heads)", device="cpu")
        write = ropegen.kernel(f"op=rope {base} qk_norm=rms(eps=1e-6,span=all_heads,sums=write)", device="cpu")
        read = ropegen.kernel(f"op=rope {base} qk_norm=rms(eps=1e-6,span=all_heads,sums=read)", device="cpu")
        rng = np.random.default_rng(7)
        q = rng.standard_normal((5, 4, 32)).astype(np.float32)
        k = rng.standard_normal((5, 2, 32)).astype(np.float32)
        pos = np.arange(5, dtype=np.int32)
        wq, wk = np.full(4 * 32, 0.5, np.float32), np.full(2 * 32, 2.0, np.float32)
        q1, k1 = q.copy(), k.copy()
        one(q=q1, k=k1, positions=pos, q_norm_weight=wq, k_norm_weight=wk)
        sums = np.zeros((5, 2), np.float32)
        q2, k2 = q.copy(), k.copy()
        write(q=q2, k=k2, positions=pos, norm_sums=sums)
        np.testing.assert_array_equal(q2, q)  # the first launch writes only the sums
        np.testing.assert_allclose(sums[:, 0], (q.astype(np.float64) ** 2).sum(axis=(1, 2)), rtol=1e-6)
        np.testing.assert_allclose(sums[:, 1], (k.astype(np.float64) ** 2).sum(axis=(1, 2)), rtol=1e-6)
        read(q=q2, k=k2, positions=pos, norm_sums=sums, q_norm_weight=wq, k_norm_weight=wk)
        np.testing.assert_allclose(q2, q1, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(k2, k1, rtol=1e-6, atol=1e-6)
        with self.assertRaises(ropegen.ArgumentError) as e:
            read(q=q.copy(), k=k.copy(), positions=pos, q_norm_weight=wq, k_norm_weight=wk)
        self.assertEqual(e.exception.argument, "norm_sums")

    def test_gate_and_bias(self):
        # rotary_dim = 0 keeps the expectation to the bias add itself (fp32: one rounding).
        kern = ropegen.kernel("op=rope head_dim=16 rotary_dim=0 q_heads=2 kv_heads=1 dtype=f32 gate=interleaved "
                              "bias=qkv", device="cpu")
        rng = np.random.default_rng(8)
        q = rng.standard_normal((3, 2, 32)).astype(np.float32)  # per head [q | gate]
        k = rng.standard_normal((3, 1, 16)).astype(np.float32)
        qb = rng.standard_normal(2 * 32).astype(np.float32)
        kb = rng.standard_normal(16).astype(np.float32)
        gate = np.zeros((3, 2, 16), np.float32)
        q0, k0 = q.copy(), k.copy()
        kern(q=q, k=k, positions=np.arange(3, dtype=np.int32), q_bias=qb, k_bias=kb, gate_out=gate)
        qb2 = qb.reshape(2, 32)
        np.testing.assert_array_equal(gate, q0[:, :, 16:] + qb2[:, 16:])
        np.testing.assert_array_equal(q[:, :, :16], q0[:, :, :16] + qb2[:, :16])
        np.testing.assert_array_equal(q[:, :, 16:], q0[:, :, 16:])  # the gate halves stay in q
        np.testing.assert_array_equal(k, k0 + kb.reshape(1, 16))
        with self.assertRaises(ropegen.ArgumentError) as e:
            kern(q=q0.copy(), k=k0.copy(), positions=np.arange(3, dtype=np.int32), q_bias=qb, k_bias=kb)
        self.assertEqual(e.exception.argument, "gate_out")

    def test_many_layers_in_one_launch(self):
        """layers = many: q, k, v as [layers, tokens, ...], each layer's caches (and a quantized
        cache's scales, norm weights, k_out) as lists; the one launch writes what the
        single-layer kernel writes for each layer alone, byte for byte."""
        L, T, rng = 3, 9, np.random.default_rng(22)
        pos = rng.integers(0, 64, T).astype(np.int32)
        slots = np.array([0, 5, -1, 31, 16, 2, 17, 30, 8], np.int32)
        table = rng.standard_normal((64, 64)).astype(np.float32)
        for extra in ("", " cache_dtype=int8 scales=per_token_head qk_norm=rms(eps=1e-6) outputs=separate"):
            with self.subTest(extra=extra):
                one = ropegen.kernel("head_dim=64 q_heads=4 kv_heads=2 dtype=f32" + extra, device="cpu")
                many = ropegen.kernel("head_dim=64 q_heads=4 kv_heads=2 dtype=f32 layers=many" + extra, device="cpu")
                quant = "int8" in extra
                q = rng.standard_normal((L, T, 4, 64)).astype(np.float32)
                k = rng.standard_normal((L, T, 2, 64)).astype(np.float32)
                v = rng.standard_normal((L, T, 2, 64)).astype(np.float32)
                cache = lambda: np.zeros((2, 16, 2, 64), np.int8 if quant else np.float32)
                own = lambda: dict(k_cache=[cache() for _ in range(L)], v_cache=[cache() for _ in range(L)],
                                   **(dict(k_cache_scales=[np.zeros((2, 16, 2, 1), np.float32) for _ in range(L)],
                                           v_cache_scales=[np.zeros((2, 16, 2, 1), np.float32) for _ in range(L)],
                                           k_out=[np.zeros((T, 2, 64), np.float32) for _ in range(L)]) if quant else {}))
                weights = [rng.standard_normal(64).astype(np.float32) for _ in range(2 * L)]
                norm = lambda l: dict(q_norm_weight=weights[2 * l], k_norm_weight=weights[2 * l + 1]) if quant else {}
                shared = dict(positions=pos, slot_mapping=slots, cos_sin_cache=table)
                mine, theirs, q1 = own(), own(), q.copy()
                for l in range(L):
                    one(q=q1[l], k=k[l], v=v[l], **{f: x[l] for f, x in theirs.items()}, **norm(l), **shared)
                q2 = q.copy()
                layered_norm = {f: [norm(l)[f] for l in range(L)] for f in norm(0)}
                many(q=q2, k=k, v=v, **mine, **layered_norm, **shared)
                np.testing.assert_array_equal(q2, q1)
                for f in mine:
                    for l in range(L):
                        np.testing.assert_array_equal(mine[f][l], theirs[f][l], err_msg=f"{f}[{l}]")
                self.assertTrue(all(np.any(c) for c in mine["k_cache"]))
                many(q=q2, k=k, v=v, **mine, **layered_norm, **shared)  # the records are kept
                self.assertEqual(len(many._records), 1)
                with self.assertRaises(ropegen.ArgumentError) as e:
                    many(q=q2, k=k, v=v, **dict(mine, v_cache=mine["v_cache"][:2]), **layered_norm, **shared)
                self.assertIn("has 2 layers", str(e.exception))
                with self.assertRaises(ropegen.ArgumentError) as e:
                    many(q=q2[0], k=k, v=v, **mine, **layered_norm, **shared)
                self.assertIn("layers = many takes [3 layers, tokens, ...]", str(e.exception))
                with self.assertRaises(ropegen.ArgumentError) as e:
                    many(q=q2, k=k, v=v, **dict(mine, k_cache=mine["k_cache"][0]), **layered_norm, **shared)
                self.assertIn("give a list with one array per layer", str(e.exception))

    @unittest.skipIf(torch is None, NO_TORCH)
    def test_many_layers_torch(self):
        """layers = many with PyTorch tensors (bf16): lists of cache tensors, eager calls."""
        L, T = 2, 5
        many = ropegen.kernel("head_dim=64 q_heads=4 kv_heads=2 dtype=bf16 layers=many", device="cpu")
        one = ropegen.kernel("head_dim=64 q_heads=4 kv_heads=2 dtype=bf16", device="cpu")
        torch.manual_seed(3)
        q, k, v = (torch.randn(L, T, h, 64).bfloat16() for h in (4, 2, 2))
        shared = dict(positions=torch.arange(T, dtype=torch.int32), slot_mapping=torch.tensor([3, 0, -1, 9, 4],
                      dtype=torch.int32), cos_sin_cache=torch.randn(16, 64))
        kc, vc = ([torch.zeros(1, 16, 2, 64).bfloat16() for _ in range(L)] for _ in range(2))
        kc1, vc1, q1 = [x.clone() for x in kc], [x.clone() for x in vc], q.clone()
        many(q=q, k=k, v=v, k_cache=kc, v_cache=vc, **shared)
        for l in range(L):
            one(q=q1[l], k=k[l], v=v[l], k_cache=kc1[l], v_cache=vc1[l], **shared)
        self.assertTrue(torch.equal(q, q1))
        for a, b in zip(kc + vc, kc1 + vc1):
            self.assertTrue(torch.equal(a, b))
        if hasattr(torch.library, "Library"):  # its operator takes the lists (ManyLayersOperator)
            self.assertIsNotNone(many.op)
        self.assertIsNone(many._launcher)  # the C++ fast path does not take lists: the Python path
        self.assertIn("layers = many", many.fast_reason)

    def test_rotary_dim_zero(self):
        kern = ropegen.kernel("op=rope head_dim=32 rotary_dim=0 q_heads=2 kv_heads=1 dtype=f32 "
                              "q_temperature=llama4(attn_scale=0.5,floor_scale=2)", device="cpu")
        q = np.ones((3, 2, 32), np.float32)
        k = np.full((3, 1, 32), 3.0, np.float32)
        pos = np.array([0, 1, 5], np.int32)
        kern(q=q, k=k, positions=pos)
        f = [np.float32(np.log(np.floor((p + 1) / 2) + 1) * 0.5 + 1) for p in pos]  # rope-math.md
        for t in range(3):
            np.testing.assert_allclose(q[t], f[t], rtol=1e-6)
        np.testing.assert_array_equal(k, 3.0)  # k is not rotated (nor scaled)


@unittest.skipIf(NO_HOST, NO_HOST or "")
class ArgumentErrors(unittest.TestCase):
    """Each mismatch raises ropegen.ArgumentError (a ropegen.Error and a ValueError) that
    names the argument and what was expected."""

    SPEC = "head_dim=64 q_heads=4 kv_heads=2 dtype=f32 cache=paged(block=16)"

    def setUp(self):
        self.k = ropegen.kernel(self.SPEC, device="cpu")
        T = 5
        self.a = dict(q=np.ones((T, 4, 64), np.float32), k=np.ones((T, 2, 64), np.float32),
                      v=np.ones((T, 2, 64), np.float32), k_cache=np.zeros((4, 16, 2, 64), np.float32),
                      v_cache=np.zeros((4, 16, 2, 64), np.float32), positions=np.arange(T, dtype=np.int32),
                      slot_mapping=np.arange(T, dtype=np.int32), cos_sin_cache=np.ones((32, 64), np.float32))

    def fails(self, name, pattern, **change):
        args = dict(self.a)
        for key, value in change.items():
            if value is None:
                del args[key]
            else:
                args[key] = value
        with self.assertRaises(ropegen.Error) as e:
            self.k(**args)
        err = e.exception
        self.assertIsInstance(err, ValueError)
        self.assertEqual(err.argument, name, str(err))
        self.assertIn(f"'{name}'", str(err))
        self.assertRegex(str(err), pattern)
        return err

    def test_valid_arguments_launch(self):
        self.k(**self.a)  # the baseline every other test changes one thing of

    def test_wrong_dtype(self):
        self.fails("q", r"dtype f16, expected f32", q=self.a["q"].astype(np.float16))
        self.fails("positions", r"dtype i64, expected i32", positions=np.arange(5, dtype=np.int64))

    def test_wrong_shape(self):
        self.fails("q", r"shape \[5, 3, 64\], expected \[num_tokens, 4, 64\]", q=np.ones((5, 3, 64), np.float32))
        self.fails("k_cache", r"expected \[any, 16, 2, 64\]", k_cache=np.zeros((4, 8, 2, 64), np.float32))
        self.fails("cos_sin_cache", r"expected \[max_position, 64\]", cos_sin_cache=np.ones((32, 32), np.float32))

    def test_token_counts_disagree(self):
        self.fails("k", r"4 tokens, but q has 5", k=np.ones((4, 2, 64), np.float32))

    def test_non_contiguous_inner_dims(self):
        wide = np.ones((5, 4, 128), np.float32)
        self.fails("q", r"inner dimensions must be contiguous", q=wide[:, :, ::2])
        self.fails("v_cache", r"all dimensions must be contiguous",
                   v_cache=np.zeros((8, 16, 2, 64), np.float32)[::2])

    def test_misaligned(self):
        flat = np.ones(5 * 4 * 64 + 1, np.float32)
        self.fails("q", r"not aligned to 16 bytes", q=flat[1:].reshape(5, 4, 64))

    def test_row_stride(self):
        buf = np.ones((5, 4 * 64 + 2), np.float32)  # a stride that is not a multiple of the vector width
        self.fails("q", r"row stride 258 \(q_stride\) must be a multiple of 4", q=buf[:, :256])
        small = np.lib.stride_tricks.as_strided(np.ones(2048, np.float32), (5, 4, 64), (4 * 128, 4 * 64, 4))
        self.fails("q", r"row stride 128 \(q_stride\) is below the minimum 256", q=small)

    def test_missing_required(self):
        err = self.fails("slot_mapping", r"missing: a paged cache needs a slot per token", slot_mapping=None)
        self.fails("positions", r"missing: RoPE needs a position", positions=None)
        self.fails("cos", r"missing", cos_sin_cache=None)

    def test_wrong_device(self):
        class CudaArray:  # what CuPy hands over: device memory the host kernel cannot read
            __cuda_array_interface__ = {"shape": (5, 4, 64), "typestr": "<f4", "data": (0x7F0000000000, False),
                                        "version": 3, "strides": None}
        self.fails("q", r"is in cuda memory, expected host memory", q=CudaArray())
        if torch is not None:
            self.fails("k", r"is in meta memory", k=torch.empty(5, 2, 64, device="meta"))

    def test_read_only_output(self):
        kc = self.a["k_cache"].copy()
        kc.flags.writeable = False
        self.fails("k_cache", r"read-only", k_cache=kc)

    def test_unknown_and_unused_arguments(self):
        self.fails("qq", r"unknown argument; this kernel takes q, k, v, positions, slot_mapping", qq=self.a["q"])
        rope = ropegen.kernel("op=rope head_dim=64 q_heads=4 kv_heads=2 dtype=f32", device="cpu")
        with self.assertRaises(ropegen.ArgumentError) as e:
            rope(q=self.a["q"], k=self.a["k"], positions=self.a["positions"], cos_sin_cache=self.a["cos_sin_cache"],
                 v=self.a["v"])
        self.assertIn("'v': this kernel (rope) does not take it", str(e.exception))

    def test_not_an_array(self):
        self.fails("q", r"expected a tensor or array", q=[1.0, 2.0])

    def test_shared_table_stride(self):
        args = dict(self.a)
        del args["cos_sin_cache"]
        args["cos"] = np.ones((32, 32), np.float32)
        args["sin"] = np.ones((32, 64), np.float32)[:, :32]
        with self.assertRaises(ropegen.ArgumentError) as e:
            self.k(**args)
        self.assertEqual(e.exception.argument, "sin")
        self.assertIn("differs from cos's 32; both share cos_sin_stride", str(e.exception))

    def test_c_launch_checks_surface_as_error(self):
        """What only the C API checks (null positions with a contiguous cache and no slots)
        comes back as ropegen.Error with the launch status."""
        k = ropegen.kernel("op=kv_append head_dim=64 kv_heads=2 dtype=f32 cache=contiguous(order=nhd)", device="cpu")
        with self.assertRaises(ropegen.Error) as e:
            k(k=self.a["k"], v=self.a["v"], k_cache=np.zeros((8, 2, 64), np.float32),
              v_cache=np.zeros((8, 2, 64), np.float32))
        self.assertEqual(e.exception.status, "ROPEGEN_ERROR_LAUNCH")
        self.assertIn("positions", str(e.exception))


@unittest.skipIf(NO_HOST, NO_HOST or "")
class Layout(unittest.TestCase):
    def test_generated_block_matches_library_and_header(self):
        lib = ropegen._library
        A = ropegen.KernelArgs
        self.assertEqual(ctypes.sizeof(A), lib.args_size)
        for name, offset, size in ropegen.args_layout:
            self.assertEqual((getattr(A, name).offset, getattr(A, name).size), (offset, size), name)
        # The header's fields, in order, are the library's: read from the header text itself.
        text = open(os.path.join(ROOT, "include", "ropegen", "kernel_args.h")).read()
        body = text[text.index("typedef struct ropegen_kernel_args {"):text.index("} ropegen_kernel_args;")]
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
        names = re.findall(r"\b(\w+)\s*;", body)
        self.assertEqual(names, [f[0] for f in ropegen.args_layout])
        version = int(re.search(r"#define ROPEGEN_KERNEL_ABI_VERSION (\d+)", text).group(1))
        self.assertEqual(ropegen.abi_version, version)
        a = lib.new_args()
        self.assertEqual((a.size, a.abi_version), (lib.args_size, version))

    def test_generation_follows_a_changed_layout(self):
        """A field appended by a later ABI needs no Python change: offsets, gaps and the
        tail come from the table alone."""
        end = ropegen._library.args_size  # the block as this library has it
        fields = list(ropegen.args_layout) + [("rotary_offset", end + 4, 4), ("scales", end + 8, 8)]
        A = _lib.generate_args_struct(fields, end + 24, 4)
        self.assertEqual((A.rotary_offset.offset, A.scales.offset, ctypes.sizeof(A)), (end + 4, end + 8, end + 24))
        self.assertEqual(A.q.offset, dict((f[0], f[1]) for f in fields)["q"])
        with self.assertRaises(ImportError):
            _lib.generate_args_struct(fields + [("overlap", end + 12, 8)], end + 24, 4)
        with self.assertRaises(ImportError):
            _lib.generate_args_struct(fields, end + 12, 4)  # shorter than its fields

    def test_block_launches_through_c(self):
        """The generated block is what the C API takes: a direct ropegen_kernel_launch."""
        k = ropegen.kernel("op=kv_append head_dim=32 kv_heads=1 dtype=f32 cache=contiguous(order=nhd)", device="cpu")
        kk, v = np.full((2, 1, 32), 3.0, np.float32), np.full((2, 1, 32), 4.0, np.float32)
        kc, vc = np.zeros((4, 1, 32), np.float32), np.zeros((4, 1, 32), np.float32)
        slots = np.array([3, 1], np.int32)
        a = ropegen._library.new_args()
        a.num_tokens = 2
        a.k, a.v, a.k_stride, a.v_stride = kk.ctypes.data, v.ctypes.data, 32, 32
        a.k_cache, a.v_cache, a.slot_mapping = kc.ctypes.data, vc.ctypes.data, slots.ctypes.data
        ropegen._library.check(ropegen._library.lib.ropegen_kernel_launch(k._handle, ctypes.byref(a), None), "launch")
        self.assertTrue((kc[[1, 3]] == 3.0).all() and (vc[[1, 3]] == 4.0).all() and (kc[[0, 2]] == 0).all())
        a.abi_version = 999
        with self.assertRaises(ropegen.Error) as e:
            ropegen._library.check(ropegen._library.lib.ropegen_kernel_launch(k._handle, ctypes.byref(a), None), "launch")
        self.assertIn("ABI version 999", str(e.exception))

    def test_checks_bounds(self):
        """checks = bounds: cache_slots and table_rows come from the arrays' shapes; a token
        out of range is skipped and recorded in the u64 error words."""
        k = ropegen.kernel("head_dim=32 q_heads=1 kv_heads=1 dtype=f32 cache=contiguous(order=nhd) checks=bounds",
                           device="cpu")
        q, kk = np.full((3, 1, 32), 1.0, np.float32), np.full((3, 1, 32), 2.0, np.float32)
        v = np.full((3, 1, 32), 3.0, np.float32)
        kc, vc = np.zeros((4, 1, 32), np.float32), np.zeros((4, 1, 32), np.float32)
        table = np.concatenate([np.ones((8, 16), np.float32), np.zeros((8, 16), np.float32)], axis=1)  # no turn
        err = np.zeros(4, np.uint64)
        k(q=q, k=kk, v=v, k_cache=kc, v_cache=vc, positions=np.array([0, 8, 1], np.int32),
          slot_mapping=np.array([0, 1, 4], np.int32), cos_sin_cache=table, bounds_error=err)
        # Token 1's position 8 is past the 8-row table; token 2's slot 4 past the 4-slot cache.
        self.assertEqual(int(err[0]), 1)
        self.assertIn(int(err[1]), (1, 2))
        self.assertTrue((kc[0] == 2.0).all() and (kc[1:] == 0).all() and (vc[1:] == 0).all())
        err[:] = 0
        k(q=q, k=kk, v=v, k_cache=kc, v_cache=vc, positions=np.array([0, 1, 2], np.int32),
          slot_mapping=np.array([0, 1, 3], np.int32), cos_sin_cache=table, bounds_error=err)
        self.assertEqual(int(err[0]), 0)
        self.assertTrue((kc[[0, 1, 3]] == 2.0).all() and (kc[2] == 0).all())
        with self.assertRaises(ropegen.ArgumentError):
            k(q=q, k=kk, v=v, k_cache=kc, v_cache=vc, positions=np.array([0, 1, 2], np.int32),
              slot_mapping=np.array([0, 1, 3], np.int32), cos_sin_cache=table)

    def test_limits_skip_tokens_in_default_mode(self):
        """checks = none: cache_slots and table_rows always come from the arrays' shapes; a
        token whose slot is past the cache or whose position is outside the table is skipped
        whole (q, k and the caches keep what they hold) instead of written out of bounds."""
        k = ropegen.kernel("head_dim=32 q_heads=1 kv_heads=1 dtype=f32 cache=paged(block=4)", device="cpu")
        rng = np.random.default_rng(5)
        q, kk, v = (rng.random((5, 1, 32), dtype=np.float32) for _ in range(3))
        q0, k0 = q.copy(), kk.copy()
        # The caches: 2 blocks of 4 slots, then a third block the kernel may not touch
        # (the arrays given are views of the first two).
        kc_all, vc_all = np.zeros((3, 4, 1, 32), np.float32), np.zeros((3, 4, 1, 32), np.float32)
        angles = np.arange(8, dtype=np.float32)[:, None] * 0.1
        table = np.concatenate([np.cos(angles).repeat(16, 1), np.sin(angles).repeat(16, 1)], axis=1)
        # Token:     0  1  2   3   4
        # position:  1  2  8  -1   3   (8 and -1 are outside the 8-row table)
        # slot:      0  8  1   2   7   (8 is past the 8-slot cache)
        k(q=q, k=kk, v=v, k_cache=kc_all[:2], v_cache=vc_all[:2], positions=np.array([1, 2, 8, -1, 3], np.int32),
          slot_mapping=np.array([0, 8, 1, 2, 7], np.int32), cos_sin_cache=table)
        for t in (1, 2, 3):
            self.assertTrue(np.array_equal(q[t], q0[t]) and np.array_equal(kk[t], k0[t]), f"token {t} touched")
        for t in (0, 4):
            self.assertFalse(np.array_equal(q[t], q0[t]), f"token {t} not rotated")
        vflat = vc_all.reshape(12, 32)
        self.assertTrue(np.array_equal(vflat[0], v[0, 0]) and np.array_equal(vflat[7], v[4, 0]))
        self.assertEqual(int(np.count_nonzero(vflat.any(axis=1))), 2, "only slots 0 and 7 written")
        self.assertFalse(kc_all[2].any() or vc_all[2].any(), "the block past the cache was written")
        # A cache that holds no slot cannot be a limit (0 means none): refused.
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(q=q, k=kk, v=v, k_cache=kc_all[:0], v_cache=vc_all[:0], positions=np.zeros(5, np.int32),
              slot_mapping=np.zeros(5, np.int32), cos_sin_cache=table)
        self.assertIn("holds no cache slot", str(e.exception))

    def test_quantized_cache_scales_limit_the_slots(self):
        """A quantized cache writes its scales beside it: the slot limit is the smallest of the
        caches' and the scale tensors', so a slot the caches hold but a shorter scale tensor
        does not is skipped, not written past the scales."""
        k = ropegen.kernel("head_dim=32 q_heads=1 kv_heads=1 dtype=f32 cache=paged(block=4) cache_dtype=int8 "
                           "scales=per_token_head", device="cpu")
        rng = np.random.default_rng(6)
        q, kk, v = (rng.random((2, 1, 32), dtype=np.float32) for _ in range(3))
        kc, vc = np.zeros((2, 4, 1, 32), np.int8), np.zeros((2, 4, 1, 32), np.int8)  # 8 slots
        ks_all, vs_all = np.zeros((2, 4, 1, 1), np.float32), np.zeros((2, 4, 1, 1), np.float32)
        table = np.ones((8, 32), np.float32)
        # Token 0 at slot 1, token 1 at slot 6: the caches hold it, the scales given (one block) do not.
        k(q=q, k=kk, v=v, k_cache=kc, v_cache=vc, k_cache_scales=ks_all[:1], v_cache_scales=vs_all[:1],
          positions=np.array([0, 1], np.int32), slot_mapping=np.array([1, 6], np.int32), cos_sin_cache=table)
        self.assertTrue(vc[0, 1].any() and vs_all[0, 1, 0, 0] > 0, "token 0 not written")
        self.assertFalse(vc[1].any() or kc[1].any(), "token 1 written past the scales' slots")
        self.assertFalse(ks_all[1].any() or vs_all[1].any(), "scales written past the tensor given")

    def test_inline_scales_write_the_separate_bytes_in_the_cache(self):
        """cache_dtype = nvfp4(scales_at = page) and int8(scales_at = row): the cache is bytes
        holding the codes and scales that scales_at = tensor writes to the cache and its scale
        tensors, at the layout's places; k_cache_scales and v_cache_scales are unused (not
        given)."""
        B, H, D = 4, 1, 64
        rng = np.random.default_rng(8)
        q, kk, v = (rng.standard_normal((3, h, D)).astype(np.float32) for h in (2, H, H))
        table = rng.standard_normal((8, D)).astype(np.float32)
        args = dict(q=q, k=kk, v=v, positions=np.array([0, 3, 5], np.int32),
                    slot_mapping=np.array([0, 1, 6], np.int32), cos_sin_cache=table)
        common = f"head_dim={D} q_heads=2 kv_heads={H} dtype=f32 cache=paged(block={B}) "
        for name, sep_text, inl_text, code_dtype, S in (
                ("nvfp4", "cache_dtype=nvfp4", "cache_dtype=nvfp4(scales_at=page)", np.uint8, D // 16),
                ("int8", "cache_dtype=int8 scales=per_token_head", "cache_dtype=int8(scales_at=row) scales=per_token_head",
                 np.int8, 4)):
            sep = ropegen.kernel(common + sep_text, device="cpu")
            inl = ropegen.kernel(common + inl_text, device="cpu")
            for side in ("k_cache_scales", "v_cache_scales"):
                self.assertEqual(inl.arguments[side]["access"], "unused", name)
                self.assertFalse(inl.arguments[side]["required"], name)
            self.assertEqual(inl.arguments["k_cache"]["dtype"], "u8", name)
            extra = dict(k_scale=np.ones(1, np.float32), v_scale=np.full(1, 0.5, np.float32)) if name == "nvfp4" else {}
            C = D // 2 if name == "nvfp4" else D
            kc, vc = np.zeros((2, B, H, C), code_dtype), np.zeros((2, B, H, C), code_dtype)
            ks, vs = (np.zeros((2, B, H, S), np.uint8), np.zeros((2, B, H, S), np.uint8)) if name == "nvfp4" else \
                (np.zeros((2, B, H, 1), np.float32), np.zeros((2, B, H, 1), np.float32))
            sep(k_cache=kc, v_cache=vc, k_cache_scales=ks, v_cache_scales=vs, **extra,
                **{n: a.copy() for n, a in args.items()})
            if name == "nvfp4":  # [pages, B * H * (C + S)]: each page's codes, then their scales
                ki, vi = np.zeros((2, B * H * (C + S)), np.uint8), np.zeros((2, B * H * (C + S)), np.uint8)
            else:  # [pages, B, H, C + 4]: each row's codes, then its fp32 scale
                ki, vi = np.zeros((2, B, H, C + 4), np.uint8), np.zeros((2, B, H, C + 4), np.uint8)
            inl(k_cache=ki, v_cache=vi, **extra, **{n: a.copy() for n, a in args.items()})
            self.assertTrue(kc.any() and vc.any(), name)
            if name == "nvfp4":  # K and V pages in one allocation [N, 2, page]: its halves as views
                kv = np.zeros((2, 2, B * H * (C + S)), np.uint8)
                inl(k_cache=kv[:, 0], v_cache=kv[:, 1], **extra, **{n: a.copy() for n, a in args.items()})
                self.assertTrue(np.array_equal(kv[:, 0], ki) and np.array_equal(kv[:, 1], vi), name)
            for codes, scales, got in ((kc, ks, ki), (vc, vs, vi)):
                if name == "nvfp4":
                    self.assertTrue(np.array_equal(got[:, :B * H * C].reshape(codes.shape), codes), name)
                    self.assertTrue(np.array_equal(got[:, B * H * C:].reshape(scales.shape), scales), name)
                else:
                    self.assertTrue(np.array_equal(got[..., :C].view(np.int8), codes), name)
                    self.assertTrue(np.array_equal(got[..., C:].copy().view(np.float32), scales), name)

    def test_e2m1_caches_and_e8m0_scales_are_bytes_or_their_torch_types(self):
        """nvfp4 and mxfp4 caches are described as e2m1 code pairs (e2m1x2), mxfp4's scales as
        e8m0 bytes: uint8 arrays are taken, another dtype is refused by name, and where the
        installed PyTorch has float4_e2m1fn_x2 / float8_e8m0fnu a view of that type writes the
        same bytes as the uint8 tensor."""
        specs = {"nvfp4": "cache_dtype=nvfp4", "mxfp4": "cache_dtype=mxfp4"}
        for name, text in specs.items():
            k = ropegen.kernel("head_dim=64 q_heads=2 kv_heads=1 dtype=f32 cache=paged(block=4) " + text, device="cpu")
            self.assertEqual(k.arguments["k_cache"]["dtype"], "e2m1x2", name)
            self.assertEqual(k.arguments["k_cache_scales"]["dtype"], "fp8_e4m3" if name == "nvfp4" else "e8m0", name)
            rng = np.random.default_rng(7)
            q, kk, v = (rng.standard_normal((3, h, 64)).astype(np.float32) for h in (2, 1, 1))
            table = rng.standard_normal((8, 64)).astype(np.float32)
            args = dict(q=q, k=kk, v=v, positions=np.array([0, 3, 5], np.int32),
                        slot_mapping=np.array([0, 1, 6], np.int32), cos_sin_cache=table)
            if name == "nvfp4":
                args.update(k_scale=np.ones(1, np.float32), v_scale=np.ones(1, np.float32))
            kc, vc = np.zeros((2, 4, 1, 32), np.uint8), np.zeros((2, 4, 1, 32), np.uint8)
            groups = 64 // (16 if name == "nvfp4" else 32)
            ks, vs = np.zeros((2, 4, 1, groups), np.uint8), np.zeros((2, 4, 1, groups), np.uint8)
            k(k_cache=kc, v_cache=vc, k_cache_scales=ks, v_cache_scales=vs, **{n: a.copy() for n, a in args.items()})
            self.assertTrue(kc.any() and vc.any() and ks.any(), name)
            with self.assertRaises(ropegen.ArgumentError) as e:
                k(k_cache=kc.view(np.int8), v_cache=vc, k_cache_scales=ks, v_cache_scales=vs,
                  **{n: a.copy() for n, a in args.items()})
            self.assertIn("expected e2m1x2", str(e.exception))
            if torch is None or not hasattr(torch, "float4_e2m1fn_x2"):
                continue  # PyTorch before 2.8: uint8 only
            tk = torch.zeros((2, 4, 1, 32), dtype=torch.uint8)
            tv, tks = torch.zeros_like(tk), torch.zeros((2, 4, 1, groups), dtype=torch.uint8)
            tvs = torch.zeros_like(tks)
            scale_view = torch.float8_e4m3fn if name == "nvfp4" else torch.float8_e8m0fnu
            targs = {n: torch.from_numpy(a.copy()) for n, a in args.items()}
            k(k_cache=tk.view(torch.float4_e2m1fn_x2), v_cache=tv.view(torch.float4_e2m1fn_x2),
              k_cache_scales=tks.view(scale_view), v_cache_scales=tvs.view(scale_view), **targs)
            self.assertTrue(np.array_equal(tk.numpy(), kc) and np.array_equal(tks.numpy(), ks), name)

    def test_mrope_positions_hold_every_token(self):
        """positions = mrope: [3, tokens]; a second dimension other than q's token count is
        refused (the kernel would read rows num_tokens apart, past a shorter array)."""
        k = ropegen.kernel("op=rope head_dim=64 q_heads=2 kv_heads=1 dtype=f32 positions=mrope(sections=[8,12,12])",
                           device="cpu")
        q, table = np.ones((5, 2, 64), np.float32), np.ones((16, 64), np.float32)
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(q=q, positions=np.zeros((3, 2), np.int32), cos_sin_cache=table)
        self.assertIn("has 2 tokens, but q has 5", str(e.exception))
        k(q=q, positions=np.zeros((3, 5), np.int32), cos_sin_cache=table)

    def test_contiguous_hnd_max_seq_4_slots_0_to_7(self):
        """Issue 26: a [kv_heads = 2, max_seq = 4, head_dim] cache and slots 0..7: slots 4..7
        would land in head 1's rows (head 0) and past the cache (head 1). cache_slots = 4 from
        the shape: those tokens are skipped whole; head 1's rows hold head 1's values."""
        k = ropegen.kernel("op=kv_append head_dim=32 kv_heads=2 dtype=f32 cache=contiguous(order=hnd)", device="cpu")
        rng = np.random.default_rng(6)
        kk, v = rng.random((8, 2, 32), dtype=np.float32), rng.random((8, 2, 32), dtype=np.float32)
        kc_all, vc_all = np.zeros((3, 4, 32), np.float32), np.zeros((3, 4, 32), np.float32)  # one head of slack
        k(k=kk, v=v, k_cache=kc_all[:2], v_cache=vc_all[:2], slot_mapping=np.arange(8, dtype=np.int32))
        for h in range(2):
            self.assertTrue(np.array_equal(kc_all[h], kk[:4, h]) and np.array_equal(vc_all[h], v[:4, h]), f"head {h}")
        self.assertFalse(kc_all[2].any() or vc_all[2].any(), "written past the cache")

    def test_mla_slot_past_the_cache_skipped(self):
        """MLA in the default mode: the cache of kv_c || k_pe rows gives cache_slots (2 blocks
        of 4); slot 8 is skipped whole (q untouched)."""
        k = ropegen.kernel("op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=2 "
                           "kv_lora_rank=64 dtype=f32 style=gptj cache=paged(block=4)", device="cpu")
        rng = np.random.default_rng(7)
        q = rng.random((2, 2, 96), dtype=np.float32)
        kpe, kvc = rng.random((2, 32), dtype=np.float32), rng.random((2, 64), dtype=np.float32)
        cache = np.zeros((3, 4, 96), np.float32)
        angles = np.arange(8, dtype=np.float32)[:, None] * 0.1
        table = np.concatenate([np.cos(angles).repeat(16, 1), np.sin(angles).repeat(16, 1)], axis=1)
        q0 = q.copy()
        k(q=q, k_pe=kpe, kv_c=kvc, k_cache=cache[:2], positions=np.array([1, 2], np.int32),
          slot_mapping=np.array([3, 8], np.int32), cos_sin_cache=table)
        self.assertTrue(np.array_equal(q[1], q0[1]))
        self.assertFalse(np.array_equal(q[0], q0[0]))
        self.assertTrue(np.array_equal(cache[0, 3, :64], kvc[0]))
        self.assertEqual(int(np.count_nonzero(cache.reshape(12, 96).any(axis=1))), 1)

    def test_mla_rope_append(self):
        """DeepSeek MLA from Python: q_pe rotated in place (an identity turn here), the cache
        row kv_c || k_pe written at the token's slot, a negative slot skipped."""
        k = ropegen.kernel("op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=2 "
                           "kv_lora_rank=64 dtype=f32 style=gptj cache=paged(block=4)", device="cpu")
        rng = np.random.default_rng(3)
        q = rng.random((3, 2, 96), dtype=np.float32)
        kpe, kvc = rng.random((3, 32), dtype=np.float32), rng.random((3, 64), dtype=np.float32)
        cache = np.zeros((2, 4, 96), np.float32)
        table = np.concatenate([np.ones((8, 16), np.float32), np.zeros((8, 16), np.float32)], axis=1)
        q0 = q.copy()
        k(q=q, k=kpe, v=kvc, k_cache=cache, positions=np.array([0, 1, 2], np.int32),
          slot_mapping=np.array([0, 5, -1], np.int32), cos_sin_cache=table)
        self.assertTrue(np.array_equal(q, q0))
        self.assertTrue(np.array_equal(cache[0, 0], np.concatenate([kvc[0], kpe[0]])))
        self.assertTrue(np.array_equal(cache[1, 1], np.concatenate([kvc[1], kpe[1]])))
        self.assertEqual(int(np.count_nonzero(cache)), 2 * 96)

    def test_mla_record_round_trip(self):
        """cache_record: a DeepSeek-style record (kv_c as e4m3 codes of x / s in tiles of 128,
        the 4 fp32 tile scales, then k_pe) read back by a reader written from the layout in
        docs/dsl.md alone: each kv_c value within half an e4m3 step of its code times the tile's
        scale, the tile's largest value at code 0x7e (448), k_pe as given (an identity turn), the
        padding and the rows not written untouched."""
        spec = ("op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=2 dtype=f32 style=gptj "
                "cache=paged(block=4) cache_record=record(parts=[kv_c(format=fp8_e4m3,group=128,qmax=448,"
                "floor=1.1754943508222875e-38,quantize=divide),scales(of=kv_c),pad(bytes=16),k_pe(format=auto)],"
                "size=672)")
        k = ropegen.kernel(spec, device="cpu")
        rng = np.random.default_rng(11)
        T = 3
        q = rng.standard_normal((T, 2, 96)).astype(np.float32)
        kpe = rng.standard_normal((T, 32)).astype(np.float32)
        kvc = (rng.standard_normal((T, 512)) * np.exp(rng.uniform(-6, 3, (T, 512)))).astype(np.float32)
        cache = np.full((2, 4, 672), 0xA5, np.uint8)
        table = np.concatenate([np.ones((8, 16), np.float32), np.zeros((8, 16), np.float32)], axis=1)
        slots = np.array([5, 0, -1], np.int32)
        k(q=q, k=kpe, v=kvc, k_cache=cache, positions=np.array([1, 2, 3], np.int32), slot_mapping=slots,
          cos_sin_cache=table)
        e4m3 = np.array([(m / 8.0) * 2.0 ** -6 if e == 0 else (1 + m / 8.0) * 2.0 ** (e - 7)
                         for e in range(16) for m in range(8)])  # code & 0x7f -> magnitude (0x7f: NaN)
        rows = cache.reshape(8, 672)
        for t, slot in enumerate(slots):
            if slot < 0:
                continue
            r = rows[slot]
            codes = r[:512]
            scales = r[512:528].view(np.float32)
            self.assertTrue((codes & 0x7F != 0x7F).all(), "no NaN codes")
            got = np.where(codes & 0x80, -1.0, 1.0) * e4m3[codes & 0x7F] * np.repeat(scales.astype(np.float64), 128)
            x = kvc[t].astype(np.float64)
            for g in range(4):
                tile = x[g * 128:(g + 1) * 128]
                self.assertEqual(np.float32(scales[g]), np.float32(np.abs(tile).max()) / np.float32(448))
                self.assertEqual(int(codes[g * 128 + int(np.abs(tile).argmax())] & 0x7F), 0x7E)
            s = np.repeat(scales.astype(np.float64), 128)
            step = np.where(np.abs(x / s) < 2.0 ** -6, 2.0 ** -9, 2.0 ** (np.floor(np.log2(np.abs(x / s) + 1e-300)) - 3))
            self.assertTrue((np.abs(got - x) <= s * step / 2 * (1 + 1e-6)).all(), f"token {t}: kv_c off by more than half a step")
            self.assertTrue((r[528:544] == 0xA5).all(), "the padding is left as it was")
            self.assertTrue(np.array_equal(r[544:672].view(np.float32), kpe[t]))
        untouched = [i for i in range(8) if i not in (0, 5)]
        self.assertTrue((rows[untouched] == 0xA5).all())

    def test_fp8_cache_padded_heads_and_norm(self):
        """An fp8 e4m3 cache as uint8 bytes with a per-tensor scale (OCP codes: 2.0 / 0.5 = 4.0
        is 0x48, 3.0 / 0.5 = 6.0 is 0x4c); q and k with padded heads (heads = strided: the head
        stride comes from the arrays); qk_norm with unit weights normalizes a constant row to 1."""
        k = ropegen.kernel("head_dim=32 q_heads=2 kv_heads=1 dtype=f32 cache=contiguous(order=nhd) "
                           "cache_dtype=fp8_e4m3 heads=strided qk_norm=rms(eps=1e-6)", device="cpu")
        qbuf = np.full((3, 2, 40), 7.0, np.float32)  # heads 40 apart: 8 padding elements each
        q, kk = qbuf[:, :, :32], np.full((3, 1, 32), 2.0, np.float32)
        v = np.full((3, 1, 32), 3.0, np.float32)
        kc, vc = np.zeros((4, 1, 32), np.uint8), np.zeros((4, 1, 32), np.uint8)
        table = np.concatenate([np.ones((8, 16), np.float32), np.zeros((8, 16), np.float32)], axis=1)  # no turn
        ones = np.ones(32, np.float32)
        scale = np.array([0.5], np.float32)
        k(q=q, k=kk, v=v, k_cache=kc, v_cache=vc, positions=np.array([0, 1, 2], np.int32),
          slot_mapping=np.array([0, 1, 3], np.int32), cos_sin_cache=table, k_scale=scale, v_scale=scale,
          q_norm_weight=ones, k_norm_weight=ones)
        # Normalized rows are 1.0 (k / 0.5 = 2.0 is code 0x40); v is copied: 6.0 is 0x4c.
        self.assertTrue(np.allclose(q, 1.0, atol=1e-5) and (qbuf[:, :, 32:] == 7.0).all())
        self.assertTrue((kc[[0, 1, 3]] == 0x40).all() and (kc[2] == 0).all())
        self.assertTrue((vc[[0, 1, 3]] == 0x4c).all() and (vc[2] == 0).all())
        with self.assertRaises(ropegen.ArgumentError):  # the scales are required
            k(q=q, k=kk, v=v, k_cache=kc, v_cache=vc, positions=np.array([0, 1, 2], np.int32),
              slot_mapping=np.array([0, 1, 3], np.int32), cos_sin_cache=table, q_norm_weight=ones, k_norm_weight=ones)


    def test_2026_norms_against_numpy(self):
        """MiniMax-M2's QK norm over all heads (heads * head_dim weights), Gemma 4's K = V with
        a weightless v norm, and Llama 4's weightless norm after RoPE, each against NumPy in
        float64 (the package derives the new argument shapes and the optional v from the
        library's description)."""
        D, H, KV, T, eps = 16, 4, 2, 3, 1e-6
        rng = np.random.default_rng(11)
        q0, k0 = rng.standard_normal((T, H, D)).astype(np.float32), rng.standard_normal((T, KV, D)).astype(np.float32)
        wq, wk = rng.uniform(0.5, 1.5, H * D).astype(np.float32), rng.uniform(0.5, 1.5, KV * D).astype(np.float32)
        pos = np.array([0, 3, 5], np.int32)
        ang = np.arange(8)[:, None] * 10000.0 ** (-np.arange(D // 2) / (D // 2))
        table = np.concatenate([np.cos(ang), np.sin(ang)], axis=1).astype(np.float32)

        def turn(x):  # NeoX pairs (j, j + D/2) at each token's position
            c, s = np.cos(ang[pos])[:, None, :], np.sin(ang[pos])[:, None, :]
            a, b = x[..., :D // 2], x[..., D // 2:]
            return np.concatenate([a * c - b * s, b * c + a * s], axis=-1)

        def rms(x, axes):
            return x / np.sqrt((x.astype(np.float64) ** 2).mean(axis=axes, keepdims=True) + eps)

        k = ropegen.kernel(f"head_dim={D} q_heads={H} kv_heads={KV} dtype=f32 cache=contiguous(order=nhd) "
                           "qk_norm=rms(eps=1e-6,span=all_heads) v_norm=rms(eps=1e-6) v_source=k", device="cpu")
        q, kk = q0.copy(), k0.copy()
        kc, vc = np.zeros((8, KV, D), np.float32), np.zeros((8, KV, D), np.float32)
        k(q=q, k=kk, k_cache=kc, v_cache=vc, positions=pos, cos_sin_cache=table, q_norm_weight=wq, k_norm_weight=wk)
        want_q = turn(rms(q0, (1, 2)) * wq.reshape(H, D))
        want_k = turn(rms(k0, (1, 2)) * wk.reshape(KV, D))
        self.assertTrue(np.allclose(q, want_q, atol=2e-5), np.abs(q - want_q).max())
        self.assertTrue(np.allclose(kc[pos], want_k, atol=2e-5), np.abs(kc[pos] - want_k).max())
        self.assertTrue(np.allclose(vc[pos], rms(k0, 2), atol=2e-5), np.abs(vc[pos] - rms(k0, 2)).max())
        with self.assertRaises(ropegen.ArgumentError):  # all_heads weights are heads * head_dim long
            k(q=q, k=kk, k_cache=kc, v_cache=vc, positions=pos, cos_sin_cache=table, q_norm_weight=wq[:D],
              k_norm_weight=wk)

        post = ropegen.kernel(f"op=rope head_dim={D} q_heads={H} kv_heads={KV} dtype=f32 "
                              "qk_norm=rms(eps=1e-6,weight=none,order=post)", device="cpu")
        q, kk = q0.copy(), k0.copy()
        post(q=q, k=kk, positions=pos, cos_sin_cache=table)
        self.assertTrue(np.allclose(q, rms(turn(q0), 2), atol=2e-5) and np.allclose(kk, rms(turn(k0), 2), atol=2e-5))

@unittest.skipIf(NO_HOST, NO_HOST or "")
@unittest.skipIf(torch is None, NO_TORCH)
class ResolvedCalls(unittest.TestCase):
    """A repeat call with tensors of a resolved key (names, shapes, strides, dtypes,
    devices) only patches the addresses; a call that differs in any of them gets the full
    checks and the same errors as a first call."""

    SPEC = "head_dim=64 q_heads=4 kv_heads=2 dtype=f32 cache=paged(block=16)"

    def inputs(self, seed=0, T=5):
        g = torch.Generator().manual_seed(seed)
        qkv = torch.randn(T, 8 * 64 + 4, generator=g)  # packed rows with a gap: strided views
        return dict(q=qkv[:, :256], k=qkv[:, 256:384], v=qkv[:, 384:512], k_cache=torch.zeros(4, 16, 2, 64),
                    v_cache=torch.zeros(4, 16, 2, 64), positions=torch.randint(0, 32, (T,), generator=g,
                                                                                  dtype=torch.int32),
                    slot_mapping=torch.randperm(64, generator=g)[:T].to(torch.int32),
                    cos_sin_cache=torch.randn(32, 64, generator=g))

    def fresh_result(self, a):
        """The same launch by a kernel of a new context: nothing resolved, full checks."""
        b = {n: t.clone() for n, t in a.items()}
        ropegen.Context("host").kernel(self.SPEC)(**b)
        return b

    def test_repeat_calls_write_their_own_tensors(self):
        k = ropegen.Context("host").kernel(self.SPEC)
        for seed in range(4):  # one key: the first call resolves it, the others patch addresses
            a = self.inputs(seed)
            want = self.fresh_result(a)
            k(**a)
            for n in a:
                self.assertTrue(families.same_bytes(a[n], want[n]), f"call {seed}: {n}")
        self.assertEqual(len(k._resolved_calls()), 1)
        self.assertTrue(k._resolved_calls()[0], "the key was resolved")

    def test_fast_repeat_then_wrong_stride(self):
        k = ropegen.Context("host").kernel(self.SPEC)
        a = self.inputs()
        k(**a)
        k(**a)  # the resolved key
        wide = torch.randn(5, 8 * 64 + 2)  # row stride 514: not a multiple of the vector width
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**dict(a, q=wide[:, :256]))
        self.assertEqual(e.exception.argument, "q")
        self.assertIn("row stride 514 (q_stride) must be a multiple of 4", str(e.exception))
        with self.assertRaises(ropegen.ArgumentError) as e:  # inner dimensions strided
            k(**dict(a, q=torch.randn(5, 4, 128)[:, :, ::2]))
        self.assertIn("inner dimensions must be contiguous", str(e.exception))
        k(**a)  # the resolved key still launches

    def test_every_part_of_the_key_is_checked_again(self):
        k = ropegen.Context("host").kernel(self.SPEC)
        a = self.inputs()
        k(**a)
        cases = (("q", dict(q=a["q"].double()), r"has dtype f64, expected f32"),
                 ("q", dict(q=torch.randn(5, 3, 64)), r"has shape \[5, 3, 64\]"),
                 ("k", dict(k=torch.randn(4, 2, 64)), r"4 tokens, but q has 5"),
                 ("positions", dict(positions=a["positions"].long()), r"dtype i64, expected i32"),
                 ("k_cache", dict(k_cache=torch.zeros(8, 16, 2, 64)[::2]), r"all dimensions must be contiguous"),
                 ("v", dict(v=torch.empty(5, 2, 64, device="meta")), r"is in meta memory"),
                 ("cos_sin_cache", dict(cos_sin_cache=torch.randn(32, 32)), r"expected \[max_position, 64\]"))
        for name, change, pattern in cases:
            with self.subTest(name, pattern=pattern):
                with self.assertRaises(ropegen.ArgumentError) as e:
                    k(**dict(a, **change))
                self.assertEqual(e.exception.argument, name)
                self.assertRegex(str(e.exception), pattern)
        with self.assertRaises(ropegen.ArgumentError) as e:  # a name the key does not hold
            k(**dict(a, qq=a["q"]))
        self.assertIn("unknown argument", str(e.exception))
        missing = dict(a)
        del missing["slot_mapping"]
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**missing)
        self.assertIn("missing", str(e.exception))

    def test_misaligned_address_with_a_resolved_key(self):
        """Same shapes, strides and dtypes as the resolved key, but q starts one element off
        the vector boundary: the alignment is checked on every call."""
        k = ropegen.Context("host").kernel(self.SPEC)
        a = self.inputs()
        k(**a)
        buf = torch.randn(5 * (8 * 64 + 4) + 1)
        q = buf[1:].view(5, 8 * 64 + 4)[:, :256]
        self.assertEqual((q.shape, q.stride()), (a["q"].shape, a["q"].stride()))
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**dict(a, q=q))
        self.assertIn("not aligned to 16 bytes", str(e.exception))
        tab = torch.randn(32 * 64 + 1)[1:].view(32, 64)  # sin is half a row further: both checked
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**dict(a, cos_sin_cache=tab))
        self.assertIn("'cos", str(e.exception))

    def test_operator_repeat_calls_and_errors(self):
        k = ropegen.kernel(self.SPEC, device="cpu")
        if k.op is None:
            self.skipTest("this PyTorch has no torch.library")
        for seed in range(3):
            a = self.inputs(seed)
            want = self.fresh_result(a)
            tab = a.pop("cos_sin_cache")
            k.op(k.spec, cos=tab[:, :32], sin=tab[:, 32:], **a)
            for n in a:
                self.assertTrue(families.same_bytes(a[n], want[n]), f"call {seed}: {n}")
        wide = torch.randn(5, 8 * 64 + 2)
        with self.assertRaises(RuntimeError) as e:
            k.op(k.spec, cos=tab[:, :32], sin=tab[:, 32:], **dict(a, q=wide[:, :256]))
        self.assertIn("argument 'q': row stride 514 (q_stride) must be a multiple of 4", str(e.exception))

    def test_threads_share_a_resolved_key(self):
        """Threads launching one kernel with one key each patch their own copy of the block
        (the host launch runs outside the GIL)."""
        k = ropegen.Context("host").kernel(self.SPEC)
        work = [self.inputs(seed) for seed in range(4)]
        wants = [self.fresh_result(a) for a in work]
        k(**self.inputs(9))  # resolved before the threads start
        bad = []

        def loop(i):
            for _ in range(200):
                a = {n: t.clone() for n, t in work[i].items()}
                k(**a)
                if not all(families.same_bytes(a[n], wants[i][n]) for n in a):
                    bad.append(i)

        families.race(loop)
        self.assertEqual(bad, [])

    def test_numpy_arrays_take_the_full_path(self):
        k = ropegen.Context("host").kernel(self.SPEC)
        a = {n: t.numpy() for n, t in self.inputs().items()}
        k(**a)
        k(**a)
        self.assertEqual(k._resolved_calls(), [])


@unittest.skipIf(NO_HOST, NO_HOST or "")
class Devices(unittest.TestCase):
    @unittest.skipIf(torch is None, NO_TORCH)
    def test_rocm_pytorch_devices_use_the_hip_runtime(self):
        """ROCm PyTorch names its GPUs cuda and sets torch.version.hip: those devices get the
        C API's hip runtime (no AMD GPU here: the parse only)."""
        saved = torch.version.hip
        if torch.cuda.is_available():  # initialise CUDA first: a lazy init under the faked hip version looks for amdsmi
            torch.cuda.current_device()
        try:
            torch.version.hip = "6.2.41133"
            self.assertEqual(ropegen.parse_device("cuda:1"), ("hip", 1))
            self.assertEqual(ropegen.parse_device(0), ("hip", 0))
            self.assertEqual(ropegen.parse_device(torch.device("cuda", 2)), ("hip", 2))
            self.assertEqual(ropegen.parse_device("cuda")[0], "hip")
            self.assertEqual(ropegen.parse_device("cpu"), ("host", -1))
            torch.version.hip = None
            self.assertEqual(ropegen.parse_device("cuda:1"), ("cuda", 1))
            self.assertEqual(ropegen.parse_device(torch.device("cuda", 0)), ("cuda", 0))
        finally:
            torch.version.hip = saved

    def test_hip_runtime_looks_in_torchs_lib_folder_first(self):
        """A context that may open HIP points ROPEGEN_HIP_LIB_DIR at the installed torch's lib
        folder (after a folder the user set), without importing torch: a stand-in torch package
        here, found on sys.path."""
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "torch", "lib"))
            with open(os.path.join(d, "torch", "__init__.py"), "w") as f:
                f.write("raise RuntimeError('the stand-in torch must not be imported')\n")
            lib = os.path.join(d, "torch", "lib")
            code = ("import os, sys; import ropegen; ropegen.Context('auto'); "
                    "print(os.environ.get('ROPEGEN_HIP_LIB_DIR')); print('torch' in sys.modules)")
            for user, expected in ((None, lib), ("/opt/rocm-x/lib", "/opt/rocm-x/lib" + os.pathsep + lib),
                                   (lib, lib)):
                env = dict(os.environ)
                env["PYTHONPATH"] = d + os.pathsep + env.get("PYTHONPATH", "")
                env.pop("ROPEGEN_HIP_LIB_DIR", None)
                if user is not None:
                    env["ROPEGEN_HIP_LIB_DIR"] = user
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(out.stdout.split(), [expected, "False"])

    def test_without_torch_a_gpu_is_cuda(self):
        import subprocess
        code = ("import sys; sys.modules['torch'] = None; import ropegen; "
                "print(ropegen.parse_device('cuda:3'), ropegen.parse_device(1))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "('cuda', 3) ('cuda', 1)")


@unittest.skipIf(NO_HOST, NO_HOST or "")
class StridedPositions(unittest.TestCase):
    """positions = mrope: [3, tokens] rows positions_stride apart, so a [3, T] view of a
    wider [3, Tmax] buffer is accepted (the ABI's stride for that argument)."""

    SPEC = "op=rope head_dim=64 q_heads=2 kv_heads=1 dtype=f32 positions=mrope(sections=[8,12,12])"

    def test_view_of_a_wider_buffer(self):
        k = ropegen.kernel(self.SPEC, device="cpu")
        rng = np.random.default_rng(4)
        T, TMAX = 5, 11
        q, kk = rng.random((T, 2, 64), dtype=np.float32), rng.random((T, 1, 64), dtype=np.float32)
        angles = np.arange(16, dtype=np.float32)[:, None] * np.linspace(0.05, 1, 32, dtype=np.float32)[None, :]
        table = np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
        wide = rng.integers(0, 16, (3, TMAX)).astype(np.int32)
        view = wide[:, :T]
        self.assertFalse(view.flags.c_contiguous)
        want_q, want_k = q.copy(), kk.copy()
        k(q=want_q, k=want_k, positions=np.ascontiguousarray(view), cos_sin_cache=table)
        k(q=q, k=kk, positions=view, cos_sin_cache=table)
        self.assertTrue(np.array_equal(q, want_q) and np.array_equal(kk, want_k))
        self.assertFalse(np.array_equal(q, rng.random((T, 2, 64), dtype=np.float32)))
        if torch is not None:
            tq, tk = torch.from_numpy(rng.random((T, 2, 64), dtype=np.float32)), None
            tk = torch.from_numpy(rng.random((T, 1, 64), dtype=np.float32))
            wq, wk = tq.clone(), tk.clone()
            tw = torch.from_numpy(wide)
            k(q=wq, k=wk, positions=tw[:, :T].contiguous(), cos_sin_cache=torch.from_numpy(table))
            for _ in range(2):  # first call and the resolved repeat
                a, b = tq.clone(), tk.clone()
                k(q=a, k=b, positions=tw[:, :T], cos_sin_cache=torch.from_numpy(table))
                self.assertTrue(torch.equal(a, wq) and torch.equal(b, wk))

    def test_rows_closer_than_a_row_are_refused(self):
        k = ropegen.kernel(self.SPEC, device="cpu")
        q, table = np.ones((5, 2, 64), np.float32), np.ones((16, 64), np.float32)
        rows = np.lib.stride_tricks.as_strided(np.zeros(8, np.int32), (3, 5), (0, 4))  # one row, broadcast
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(q=q, positions=rows, cos_sin_cache=table)
        self.assertIn("row stride 0 (positions_stride) is below the minimum 5 elements (one row)", str(e.exception))
        with self.assertRaises(ropegen.ArgumentError) as e:  # the tokens must be contiguous within a row
            k(q=q, positions=np.zeros((3, 10), np.int32)[:, ::2], cos_sin_cache=table)
        self.assertIn("inner dimensions must be contiguous", str(e.exception))

    def test_single_positions_stay_contiguous(self):
        """One position per token has no stride in the ABI: a strided view is refused."""
        k = ropegen.kernel("op=rope head_dim=64 q_heads=2 kv_heads=1 dtype=f32", device="cpu")
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(q=np.ones((5, 2, 64), np.float32), positions=np.zeros(10, np.int32)[::2],
              cos_sin_cache=np.ones((16, 64), np.float32))
        self.assertIn("all dimensions must be contiguous", str(e.exception))


class CommandLine(unittest.TestCase):
    """`python -m ropegen` (and the `ropegen` script pip installs) runs the ropegen
    executable beside the library the package loads."""

    def run_module(self, *args, env=None):
        import subprocess
        return subprocess.run([sys.executable, "-m", "ropegen", *args], capture_output=True, text=True,
                              env=env or os.environ)

    def test_version_and_emit(self):
        try:
            cli = _lib.find_cli()
        except FileNotFoundError as e:
            self.skipTest(str(e))
        out = self.run_module("--version")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), f"ropegen {ropegen.__version__}")
        self.assertEqual(os.path.dirname(cli), os.path.dirname(os.path.abspath(ropegen.library_path)))
        out = self.run_module("op=rope head_dim=32 q_heads=2 kv_heads=1", "--arch", "host", "--emit")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("ropegen_rope_", out.stdout)
        out = self.run_module("--no-such-flag")
        self.assertEqual(out.returncode, 2, out.stdout + out.stderr)  # the command's own exit status

    def test_missing_executable_is_an_error(self):
        import shutil
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(ropegen.library_path, d)  # a library with no command beside it
            env = dict(os.environ, ROPEGEN_LIB=os.path.join(d, "libropegen_c.so"))
            out = self.run_module("--version", env=env)
        self.assertEqual(out.returncode, 1)
        self.assertIn("the ropegen executable was not found beside libropegen_c.so", out.stderr)


@unittest.skipIf(NO_HOST, NO_HOST or "")
@unittest.skipIf(torch is None, NO_TORCH)
class TorchOperator(unittest.TestCase):
    def test_operator_registered_with_mutations(self):
        k = ropegen.kernel("head_dim=64 q_heads=4 kv_heads=2 dtype=f32", device="cpu")
        self.assertIsNotNone(k.op)
        self.assertEqual(k.mutated, ("q", "k_cache", "v_cache"))
        schema = str(k.op.default._schema) if hasattr(k.op, "default") else str(k.op._schema)
        self.assertRegex(schema, r"Tensor\(\w+!\)\? q")
        self.assertRegex(schema, r"Tensor\(\w+!\)\? k_cache")
        self.assertRegex(schema, r"Tensor\(\w+!\)\? v_cache")
        self.assertRegex(schema, r"Tensor\? k\b")  # read only: no alias annotation
        self.assertIn("str spec", schema)
        rope = ropegen.kernel("op=rope head_dim=64 q_heads=4 kv_heads=2 dtype=f32", device="cpu")
        self.assertEqual(rope.mutated, ("q", "k"))
        self.assertIsNot(rope.op, k.op)

    def test_operator_eager_numerics(self):
        run(Case(dtype="bf16", backend="torch", call="op", cache="paged", order="nhd", table="cos_sin_cache"))
        run(Case(op="rope", dtype="f32", backend="torch", call="op", packed=True))

    def test_operator_checks(self):
        k = ropegen.kernel("op=rope head_dim=64 q_heads=4 kv_heads=2 dtype=f32", device="cpu")
        q, kk = torch.ones(3, 4, 64), torch.ones(3, 2, 64)
        pos, tab = torch.zeros(3, dtype=torch.int32), torch.ones(8, 64)
        with self.assertRaises(RuntimeError) as e:  # through the dispatcher: the message survives
            k.op(k.spec, q=q.half(), k=kk, positions=pos, cos=tab[:, :32], sin=tab[:, 32:])
        self.assertIn("argument 'q': has dtype f16, expected f32", str(e.exception))

    def test_meta_tensors(self):
        """The fake/meta implementation checks shapes and dtypes without touching memory."""
        k = ropegen.kernel("op=rope head_dim=64 q_heads=4 kv_heads=2 dtype=f32", device="cpu")
        m = dict(device="meta")
        args = dict(q=torch.empty(3, 4, 64, **m), k=torch.empty(3, 2, 64, **m),
                    positions=torch.empty(3, dtype=torch.int32, **m), cos=torch.empty(8, 32, **m),
                    sin=torch.empty(8, 32, **m))
        try:
            k.op(k.spec, **args)
        except NotImplementedError as e:
            self.skipTest(f"this PyTorch has no Python Meta kernels: {e}")
        args["q"] = torch.empty(3, 5, 64, **m)
        with self.assertRaises(RuntimeError) as e:
            k.op(k.spec, **args)
        self.assertIn("argument 'q': has shape [3, 5, 64]", str(e.exception))

    @unittest.skipUnless(torch is not None and hasattr(torch, "compile"),
                         f"torch.compile needs PyTorch 2.0+ (installed: {getattr(torch, '__version__', None)})")
    def test_compile_fullgraph_cpu(self):
        """fullgraph=True fails on any graph break; aot_eager runs functionalization (the
        declared mutations) without needing a C++ toolchain for inductor."""
        k = ropegen.kernel("head_dim=64 q_heads=4 kv_heads=2 dtype=f32 index=i64", device="cpu")

        def step(q, kk, v, kc, vc, pos, slots, table):
            k(q=q, k=kk, v=v, k_cache=kc, v_cache=vc, positions=pos, slot_mapping=slots, cos_sin_cache=table)
            return q * 2

        g = torch.Generator().manual_seed(0)
        T = 9
        mk = lambda: (torch.randn(T, 4, 64, generator=g), torch.randn(T, 2, 64, generator=g),
                      torch.randn(T, 2, 64, generator=g), torch.zeros(4, 16, 2, 64), torch.zeros(4, 16, 2, 64),
                      torch.randperm(64, generator=g)[:T], torch.randperm(64, generator=g)[:T],
                      torch.randn(64, 64, generator=g))
        a = mk()
        b = [x.clone() for x in a]
        out_eager = step(*a)
        out = torch.compile(step, fullgraph=True, backend="aot_eager")(*b)
        torch.testing.assert_close(out, out_eager, rtol=0, atol=0)
        for x, y in zip(a, b):  # the mutations reached the caller's tensors
            torch.testing.assert_close(x, y, rtol=0, atol=0)


@unittest.skipIf(NO_HOST, NO_HOST or "")
@unittest.skipIf(torch is None, NO_TORCH)
class ManyLayersOperator(unittest.TestCase):
    """layers = many through its PyTorch operator: per-layer lists (Tensor[]? in the schema,
    Tensor(x!)[]? where written), the record array built from their addresses, the fake
    implementation's per-layer checks, torch.compile; each against single-layer launches of
    every layer, byte for byte."""

    HAS_OPERATOR = hasattr(torch.library, "Library") if torch else False

    def kernels(self, dtype="f32"):
        for label, spec in families.LAYERED:
            spec = spec.format(dtype=dtype)
            yield label, ropegen.kernel(spec, device="cpu"), ropegen.kernel(families.single_layer_spec(spec),
                                                                            device="cpu")

    def single_layers(self, many, one, args):
        for l in range(len(args["k_cache"])):
            one(**families.per_layer(many, args, l))

    def setUp(self):
        if not self.HAS_OPERATOR:
            self.skipTest("this PyTorch has no torch.library")

    def test_schema_takes_lists(self):
        many = ropegen.kernel(families.LAYERED[1][1].format(dtype="f32"), device="cpu")
        schema = str(many.op.default._schema) if hasattr(many.op, "default") else str(many.op._schema)
        self.assertIn("ropegen::launch_layers__q__", schema)  # the fields it writes, then those a layer owns
        self.assertIn("__per__k_cache__v_cache__q_out__k_out__q_norm_weight", schema)
        for written in ("k_cache", "v_cache", "k_cache_scales", "v_cache_scales", "k_out"):
            self.assertRegex(schema, r"Tensor\(\w+!\)\[\]\? " + written + r"\b")
        for read in ("q_norm_weight", "k_norm_weight"):
            self.assertRegex(schema, r"Tensor\[\]\? " + read + r"\b")
        self.assertRegex(schema, r"Tensor\(\w+!\)\? q\b")  # rotated in place, [layers, tokens, ...]
        self.assertRegex(schema, r"Tensor\? k\b")
        self.assertRegex(schema, r"Tensor\? positions\b")
        self.assertNotRegex(schema, r"\blayers=")  # the record array is built, not passed
        one = ropegen.kernel(families.single_layer_spec(many.spec), device="cpu")
        self.assertIsNot(many.op, one.op)

    def test_operator_writes_the_single_layer_bytes(self):
        for label, many, one in self.kernels():
            with self.subTest(label, spec=many.spec):
                for seed in range(2):
                    a = families.layer_inputs(many, one, seed=seed)
                    if "bounds_error" in a:  # a slot past the cache: skipped in every layer, recorded once
                        a["slot_mapping"][1] = 1000
                    b, c, before = families.clone_layers(a), families.clone_layers(a), families.clone_layers(a)
                    many.op(many.spec, **many._field_names(b))
                    many(**c)  # the eager call: the same record array (built once per set of addresses)
                    self.single_layers(many, one, a)
                    self.assertEqual(families.same_layers(a, b), [], f"{label}: the operator differs")
                    self.assertEqual(families.same_layers(a, c), [], f"{label}: the eager call differs")
                    self.assertNotEqual(families.same_layers(a, before), [], f"{label}: nothing was written")
                    if "bounds_error" in a:
                        self.assertEqual(b["bounds_error"].tolist(), [1, 1, 1000, 40 | (2 << 56)])
                self.assertEqual(len(many._records), 4, "one record array per set of addresses: b and c of 2 seeds")

    def test_repeat_calls_patch_the_addresses(self):
        """A repeat call of a resolved key (every tensor's shape, strides, dtype and device,
        a list's one by one) patches the block and the record words with its own addresses;
        a misaligned one takes the full path, which names it."""
        for label, spec in families.LAYERED:
            spec = spec.format(dtype="f32")
            with self.subTest(label, spec=spec):
                many = ropegen.Context("host").kernel(spec)
                one = ropegen.kernel(families.single_layer_spec(spec), device="cpu")
                for seed in range(4):
                    a = families.layer_inputs(many, one, seed=seed)
                    b = families.clone_layers(a)
                    many(**b)
                    self.single_layers(many, one, a)
                    self.assertEqual(families.same_layers(a, b), [], f"{label} call {seed}")
                self.assertEqual(len(many._layer_resolved), 1)
                self.assertTrue(all(many._layer_resolved.values()), "the key was resolved for patching")
                self.assertEqual(len(many._records), 4)
                c = families.layer_inputs(many, one, seed=9)
                t = c["k_cache"][1]
                wide = torch.zeros(t.numel() + 1, dtype=t.dtype)
                c["k_cache"][1] = wide[1:].view(t.shape)  # the same shape and strides, 4 bytes off
                with self.assertRaises(ropegen.ArgumentError) as e:
                    many(**c)
                self.assertEqual(e.exception.argument, "k_cache")
                self.assertIn("is not aligned", str(e.exception))

    def test_operator_checks_every_layer(self):
        many = ropegen.kernel(families.LAYERED[0][1].format(dtype="f32"), device="cpu")
        one = ropegen.kernel(families.single_layer_spec(many.spec), device="cpu")
        a = families.layer_inputs(many, one)
        a["v_cache"][2] = a["v_cache"][2][:, :, :1]
        with self.assertRaises(RuntimeError) as e:  # through the dispatcher: the message survives
            many.op(many.spec, **a)
        self.assertIn("argument 'v_cache': has shape [10, 4, 1, 64]", str(e.exception))
        a = families.layer_inputs(many, one)
        a["k_cache"] = a["k_cache"][:2]
        with self.assertRaises(RuntimeError) as e:
            many.op(many.spec, **a)
        self.assertRegex(str(e.exception), "has [23] layers, but another list has [23]")
        a = families.layer_inputs(many, one)
        a["positions"] = [a["positions"]] * 3
        with self.assertRaises((RuntimeError, TypeError)):  # a shared argument as a list: Tensor? refuses it
            many.op(many.spec, **a)

    def test_meta_tensors(self):
        """The fake implementation runs every layer's checks without addresses."""
        many = ropegen.kernel(families.LAYERED[1][1].format(dtype="f32"), device="cpu")
        one = ropegen.kernel(families.single_layer_spec(many.spec), device="cpu")
        meta = lambda v: [t.to("meta") for t in v] if isinstance(v, list) else v.to("meta")
        args = {n: meta(v) for n, v in families.layer_inputs(many, one).items()}
        try:
            many.op(many.spec, **args)
        except NotImplementedError as e:
            self.skipTest(f"this PyTorch has no Python Meta kernels: {e}")
        args["k_norm_weight"] = args["k_norm_weight"][:2] + [torch.empty(31, device="meta")]
        with self.assertRaises(RuntimeError) as e:
            many.op(many.spec, **args)
        self.assertIn("argument 'k_norm_weight': has shape [31]", str(e.exception))
        args["k_norm_weight"] = args["k_norm_weight"][:2]
        with self.assertRaises(RuntimeError) as e:
            many.op(many.spec, **args)
        self.assertIn("has 2 layers", str(e.exception))

    def test_record_arrays_and_graph_capture(self):
        """A CUDA graph capture (the current stream capturing, simulated here) launches with
        the record array of an earlier call's addresses and keeps it; a set of addresses first
        seen while capturing is refused (its host-to-device copy would be captured)."""
        many = ropegen.Context("host").kernel(families.LAYERED[0][1].format(dtype="f32"))
        one = ropegen.kernel(families.single_layer_spec(many.spec), device="cpu")
        warm = families.layer_inputs(many, one)
        many(**families.clone_layers(warm))  # another set of addresses
        many(**warm)  # the warm-up call
        self.assertEqual(len(many._records), 2)
        many._capturing = lambda: True
        want = families.clone_layers(warm)
        self.single_layers(many, one, want)
        many(**warm)  # the same addresses: the kept array, nothing copied
        self.assertEqual(families.same_layers(warm, want), [])
        captured = [r for r in many._records.values() if r.captured]
        self.assertEqual(len(captured), 1)
        with self.assertRaises(ropegen.ArgumentError) as e:
            many(**families.clone_layers(warm))
        self.assertIn("make one eager call with the same tensors before the capture", str(e.exception))
        self.assertEqual(len(many._records), 2)
        del many._capturing
        for seed in range(many._MAX_RECORDS + 3):  # past the limit: the others are dropped, not the captured
            many(**families.layer_inputs(many, one, seed=seed))
        self.assertLessEqual(len(many._records), many._MAX_RECORDS)
        self.assertIn(captured[0], list(many._records.values()))

    def test_norm_sums_refused_with_many_layers(self):
        """norm_sums has no per-layer place in the record: the spec is refused, naming both keys."""
        with self.assertRaises(ropegen.Error) as e:
            ropegen.kernel("head_dim=64 q_heads=4 kv_heads=2 dtype=f32 layers=many "
                           "qk_norm=rms(span=all_heads,sums=read)", device="cpu")
        self.assertIn("layers = many", str(e.exception))
        self.assertIn("qk_norm = rms(sums = ...)", str(e.exception))

    @unittest.skipUnless(torch is not None and hasattr(torch, "compile"),
                         f"torch.compile needs PyTorch 2.0+ (installed: {getattr(torch, '__version__', None)})")
    def test_compile_fullgraph(self):
        for label, many, one in self.kernels():
            with self.subTest(label, spec=many.spec):
                a = families.layer_inputs(many, one, seed=5)
                b = families.clone_layers(a)

                def step(tensors):
                    many(**tensors)

                self.single_layers(many, one, a)
                torch._dynamo.reset()
                torch.compile(step, fullgraph=True, backend="aot_eager")(b)
                self.assertEqual(families.same_layers(a, b), [], f"{label}: differs under torch.compile")


@unittest.skipIf(NO_HOST, NO_HOST or "")
@unittest.skipIf(torch is None, NO_TORCH)
class EveryKernelHasAnOperator(unittest.TestCase):
    """The operator's tensor parameters are the library's pointer fields, so a kernel of
    every family and option that adds an argument (fp8 scales, fp8 q, QK-norm weights,
    bounds_error, MLA, seq_lens, mrope positions, separate outputs) has one, and calling
    through it writes the same bytes as the eager call."""

    HAS_OPERATOR = hasattr(torch.library, "custom_op") or hasattr(torch.library, "Library") if torch else False

    def kernels(self):
        for label, spec in families.FAMILIES:
            yield label, ropegen.kernel(spec.format(dtype="f32"), device="cpu")

    def test_schema_is_the_layout_pointer_fields(self):
        from ropegen import _torch
        self.assertEqual(_torch.OP_ARGS, ropegen.pointer_fields)
        self.assertEqual(ropegen.pointer_fields,
                         tuple(n for n, _, _ in ropegen.args_layout if ropegen.args_kinds[n] == "pointer"))
        self.assertIn("k_scale", ropegen.pointer_fields)
        self.assertIn("bounds_error", ropegen.pointer_fields)
        k = ropegen.kernel(families.FAMILIES[0][1].format(dtype="f32"), device="cpu")
        if not self.HAS_OPERATOR:
            self.skipTest("this PyTorch has no torch.library")
        schema = str(k.op.default._schema) if hasattr(k.op, "default") else str(k.op._schema)
        params = re.findall(r"Tensor(?:\(\w+!\))?\? (\w+)", schema)
        self.assertEqual(tuple(params), ropegen.pointer_fields, schema)

    def test_operator_gives_the_eager_bytes(self):
        for label, k in self.kernels():
            with self.subTest(label, spec=k.spec):
                if self.HAS_OPERATOR:
                    self.assertIsNotNone(k.op, f"{label}: no operator")
                else:
                    self.skipTest("this PyTorch has no torch.library")
                a = families.inputs(k, seed=len(label))
                b = {n: t.clone() for n, t in a.items()}
                before = {n: t.clone() for n, t in a.items()}
                k(**a)
                k.op(k.spec, **k._field_names(b))  # the operator's parameters are field names
                for n in a:
                    self.assertTrue(families.same_bytes(a[n], b[n]), f"{label}: {n} differs from the eager call")
                written = [n for n in a if k.arguments[k._aliases.get(n, n)]["access"] != "read"]
                self.assertTrue(any(not families.same_bytes(a[n], before[n]) for n in written),
                                f"{label}: the launch wrote nothing")

    def test_family_names_of_fields(self):
        """A family that reads a field under its own name (the description's "field" key, as
        MLA describes k_pe in k and kv_c in v) takes either name; errors use the family's;
        the operator and the ctypes launch fill the field."""
        spec = dict(families.FAMILIES)["mla_rope_append"].format(dtype="f32")
        plain = ropegen.kernel(spec, device="cpu")
        k = ropegen.Context("host").kernel(spec)  # its own context: re-described below
        described = [dict(a) for a in k.description["arguments"]]
        for a in described:
            if a["name"] in ("k", "v"):
                a["field"], a["name"] = a["name"], {"k": "k_pe", "v": "kv_c"}[a["name"]]
        k._set_arguments(described)
        self.assertEqual(k.names["k"], "k_pe")
        a = families.inputs(plain, seed=3)
        by_family = {({"k": "k_pe", "v": "kv_c"}).get(n, n): t.clone() for n, t in a.items()}
        by_field = {n: t.clone() for n, t in a.items()}
        plain(**a)
        k(**by_family)
        k(**by_field)
        for n in a:
            m = {"k": "k_pe", "v": "kv_c"}.get(n, n)
            self.assertTrue(families.same_bytes(a[n], by_family[m]), n)
            self.assertTrue(families.same_bytes(a[n], by_field[n]), n)
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**dict(by_family, k_pe=by_family["k_pe"][:, :16]))
        self.assertEqual(e.exception.argument, "k_pe")
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**dict(by_family, k=by_family["k_pe"]))
        self.assertIn("given twice", str(e.exception))
        missing = dict(by_family)
        del missing["kv_c"]
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**missing)
        self.assertEqual(e.exception.argument, "kv_c")
        if k.op is not None:  # the path torch.compile takes: family names become field names
            again = {n: t.clone() for n, t in by_family.items()}
            before = {n: t.clone() for n, t in by_family.items()}
            k(**before)
            ropegen._registry.hook().call(k, again)
            for n in again:
                self.assertTrue(families.same_bytes(before[n], again[n]), n)

    @unittest.skipUnless(torch is not None and hasattr(torch, "compile"),
                         f"torch.compile needs PyTorch 2.0+ (installed: {getattr(torch, '__version__', None)})")
    def test_compile_fullgraph_every_family(self):
        for label, k in self.kernels():
            with self.subTest(label, spec=k.spec):
                a = families.inputs(k, seed=len(label))
                b = {n: t.clone() for n, t in a.items()}

                def step(tensors):
                    k(**tensors)

                k(**a)
                torch._dynamo.reset()
                torch.compile(step, fullgraph=True, backend="aot_eager")(b)
                for n in a:
                    self.assertTrue(families.same_bytes(a[n], b[n]), f"{label}: {n} differs under torch.compile")


if __name__ == "__main__":
    unittest.main()
