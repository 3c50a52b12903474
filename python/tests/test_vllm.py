"""ropegen.vllm: the vLLM-shaped operators against a reference written in plain PyTorch from
vLLM's documented semantics (RotaryEmbedding.forward_native, reshape_and_cache_flash's
slot / block arithmetic, fp8 stores saturate(round_nearest_even(x / scale))); nothing here
calls ropegen to make an expected value.

The parameter lists are ported from vLLM's tests/kernels/test_pos_encoding.py and
tests/kernels/test_cache.py as remembered (vLLM itself is not available here): head sizes
64/80/96/112/120/128/192/256, rotary_dim = head_size or 32 (partial), is_neox True/False,
half/bfloat16/float, batch 5 with seq_len 11 (and a longer sequence), 17 heads (and GQA
32/8), query and key as [B, S, H*D], [B, S, H, D] and [B*S, H*D], key present or None;
caches with 8 heads, block sizes 16/32, kv_cache_dtype "auto"/"fp8", key and value as the
strided unbind of a [T, 3, H, D] qkv, scales amax / 64. vLLM's full grid (8192-token
sequences, 1024 blocks) is sampled to a fixed list so the CPU run takes seconds: each
sampled case still compiles its own host kernel.

CPU: the host target runs the generated kernels. GPU parts (CUDA graphs, torch.compile)
skip without CUDA."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paths  # noqa: E402,F401  (the package and library from a source checkout)

try:
    import torch
except ImportError:
    torch = None

if torch is not None:
    import host  # noqa: E402  (imports ropegen)
    import ropegen  # noqa: E402
    from ropegen import vllm as rv  # noqa: E402

NO_TORCH = "PyTorch is not installed (Debian: python3-torch)"
HAS_CUDA = torch is not None and torch.cuda.is_available()
NO_HOST = host.compiler_missing() if torch is not None else None


# ---- the reference (plain PyTorch) ------------------------------------------------------------
def cos_sin_cache(rot, max_position=8192, base=10000.0, dtype=None):
    """vLLM's RotaryEmbedding._compute_cos_sin_cache: [max_position, rot] = cos | sin."""
    inv_freq = 1.0 / (base ** (torch.arange(0, rot, 2, dtype=torch.float) / rot))
    freqs = torch.einsum("i,j->ij", torch.arange(max_position, dtype=torch.float), inv_freq)
    cache = torch.cat((freqs.cos(), freqs.sin()), dim=-1)
    return cache if dtype is None else cache.to(dtype)


def ref_rotary(positions, x, head_size, table, is_neox):
    """forward_native for one tensor: a new tensor of x's shape and dtype, computed in fp32."""
    T = positions.numel()
    rot = table.shape[1]
    cs = table.float()[positions.reshape(-1).long()]
    cos, sin = cs[:, None, :rot // 2], cs[:, None, rot // 2:]
    h = x.reshape(T, -1, head_size).float()
    xr, xp = h[..., :rot], h[..., rot:]
    if is_neox:
        x1, x2 = xr[..., :rot // 2], xr[..., rot // 2:]
        out = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
    else:
        x1, x2 = xr[..., 0::2], xr[..., 1::2]
        out = torch.stack((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).flatten(-2)
    return torch.cat((out, xp), dim=-1).reshape(x.shape).to(x.dtype)


def _fp8_values(ebits, mbits, bias, top):
    """The non-negative values of codes 0..top of an fp8 format (OCP e4m3fn / e5m2)."""
    vals = []
    for c in range(top + 1):
        e, m = c >> mbits, c & ((1 << mbits) - 1)
        vals.append(m / (1 << mbits) * 2.0 ** (1 - bias) if e == 0 else (1 + m / (1 << mbits)) * 2.0 ** (e - bias))
    return torch.tensor(vals, dtype=torch.float64)


FP8 = {"fp8_e4m3": (_fp8_values(4, 3, 7, 0x7E), 0x7F), "fp8_e5m2": (_fp8_values(5, 2, 15, 0x7B), 0x7F)}


def ref_fp8(x, scale, fmt):
    """uint8 codes of saturate(round_nearest_even(x / scale)), x / scale in fp32; NaN -> 0x7f | sign."""
    vals, nan = FP8[fmt]
    vals = vals.to(x.device)
    y = (x.float() / scale).double()
    a = y.abs().clamp(max=float(vals[-1]))
    hi = torch.searchsorted(vals, a).clamp(max=len(vals) - 1)
    lo = (hi - 1).clamp(min=0)
    dlo, dhi = a - vals[lo], vals[hi] - a
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (hi % 2 == 0) & (hi != lo))
    code = torch.where(pick_hi, hi, lo)
    code = torch.where(a == vals[hi], hi, code)
    code = torch.where(torch.isnan(y), torch.full_like(code, nan), code)
    sign = (torch.signbit(y) if hasattr(torch, "signbit") else (y < 0) | ((y == 0) & (1 / y < 0))).long() << 7
    return (code | sign).to(torch.uint8)


def ref_cache(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale=None, v_scale=None):
    """reshape_and_cache_flash: token t -> block slot // block_size, offset slot % block_size;
    a negative slot is skipped; rows past slot_mapping's length are ignored."""
    T = slot_mapping.shape[0]
    keep = slot_mapping >= 0
    slots = slot_mapping[keep].long()
    block, offset = slots // key_cache.shape[1], slots % key_cache.shape[1]
    for x, cache, scale in ((key, key_cache, k_scale), (value, value_cache, v_scale)):
        rows = x[:T][keep]
        if kv_cache_dtype == "auto":
            cache[block, offset] = rows
        else:
            fmt = "fp8_e4m3" if kv_cache_dtype in ("fp8", "fp8_e4m3") else kv_cache_dtype
            assert cache.dtype == torch.uint8
            cache[block, offset] = ref_fp8(rows, float(scale), fmt)


TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float16: dict(rtol=1e-3, atol=1e-3),
       torch.bfloat16: dict(rtol=1.6e-2, atol=1e-2)}

# query/key layouts of vLLM's test_pos_encoding (TENSORS_SHAPES_FN), positions [B, S] or [B*S]
SHAPES = {
    "bs_hd": lambda b, s, h, d: ((b, s), (b, s, h * d)),
    "bs_h_d": lambda b, s, h, d: ((b, s), (b, s, h, d)),
    "t_hd": lambda b, s, h, d: ((b * s,), (b * s, h * d)),
}

# (head_size, rotary_dim or None = head_size, is_neox, dtype, batch, seq_len, q heads, k heads or 0 = no key, layout)
ROTARY_CASES = [
    (64, None, True, "float16", 5, 11, 17, 17, "bs_hd"),
    (80, 32, False, "bfloat16", 5, 11, 17, 17, "bs_h_d"),
    (96, None, False, "float32", 5, 11, 17, 0, "t_hd"),
    (112, 32, True, "bfloat16", 5, 11, 17, 17, "t_hd"),
    (120, None, True, "float32", 5, 11, 17, 17, "bs_hd"),
    (128, 64, True, "bfloat16", 2, 257, 32, 8, "t_hd"),  # GQA, partial rotary, a longer batch
    (192, None, False, "float16", 5, 11, 17, 17, "bs_h_d"),
    (256, 32, False, "float32", 5, 11, 17, 17, "t_hd"),
    (128, None, False, "float16", 1, 7, 17, 8, "t_hd"),  # key heads that do not divide query's: two kernels
]

# (head_size, block_size, dtype, kv_cache_dtype)
CACHE_CASES = [
    (64, 16, "float16", "auto"),
    (80, 32, "bfloat16", "auto"),
    (120, 16, "float32", "auto"),
    (256, 32, "bfloat16", "auto"),
    (128, 16, "bfloat16", "fp8"),
    (64, 32, "float16", "fp8_e4m3"),
    (96, 16, "float32", "fp8_e5m2"),
]


def _setup_rotary(case, seed=0):
    hs, rot, neox, dtype, b, s, nq, nk, layout = case
    dtype = getattr(torch, dtype)
    rot = rot or hs
    g = torch.Generator().manual_seed(seed)
    pshape, qshape = SHAPES[layout](b, s, nq, hs)
    positions = torch.randint(0, 8192, pshape, generator=g)
    query = torch.randn(qshape, generator=g).to(dtype)
    key = torch.randn(SHAPES[layout](b, s, nk, hs)[1], generator=g).to(dtype) if nk else None
    table = cos_sin_cache(rot, dtype=dtype)  # vLLM keeps the table in the model's dtype
    return positions, query, key, hs, table, neox


@unittest.skipIf(torch is None, NO_TORCH)
@unittest.skipIf(NO_HOST, NO_HOST or "")
class RotaryEmbedding(unittest.TestCase):
    def check(self, case, device="cpu"):
        positions, query, key, hs, table, neox = _setup_rotary(case)
        positions, query, table = positions.to(device), query.to(device), table.to(device)
        key = key.to(device) if key is not None else None
        want_q = ref_rotary(positions, query, hs, table, neox)
        want_k = ref_rotary(positions, key, hs, table, neox) if key is not None else None
        q0 = query.clone()
        rv.rotary_embedding(positions, query, key, hs, table, neox)
        torch.testing.assert_close(query, want_q, **TOL[query.dtype])
        self.assertFalse(torch.equal(query, q0), "query was not rotated")
        rot = table.shape[1]
        if rot < hs:  # the elements past rot_dim pass through bit for bit
            T = positions.numel()
            self.assertTrue(torch.equal(query.reshape(T, -1, hs)[..., rot:], q0.reshape(T, -1, hs)[..., rot:]))
        if key is not None:
            torch.testing.assert_close(key, want_k, **TOL[key.dtype])

    def test_cases_from_vllm(self):
        for case in ROTARY_CASES:
            with self.subTest(case=case):
                self.check(case)

    def test_style_and_partial_rotary_matter(self):
        """A reference of the other style (or the full head) differs: the comparison can fail."""
        positions, query, key, hs, table, _ = _setup_rotary(ROTARY_CASES[1])
        q = query.clone()
        rv.rotary_embedding(positions, q, None, hs, table, False)
        other = ref_rotary(positions, query, hs, table, True)
        self.assertGreater((q.float() - other.float()).abs().max().item(), 0.1)

    def test_strided_query_and_key_of_a_qkv_buffer(self):
        """vLLM slices q and k out of the qkv projection: the token dimension is strided."""
        T, nq, nk, hs = 6, 4, 2, 64
        g = torch.Generator().manual_seed(1)
        qkv = torch.randn(T, (nq + 2 * nk) * hs, generator=g).to(torch.bfloat16)
        query, key = qkv[:, :nq * hs], qkv[:, nq * hs:(nq + nk) * hs]
        v_before = qkv[:, (nq + nk) * hs:].clone()
        positions = torch.randint(0, 8192, (T,), generator=g)
        table = cos_sin_cache(hs)
        want_q, want_k = (ref_rotary(positions, x, hs, table, True) for x in (query, key))
        rv.rotary_embedding(positions, query, key, hs, table, True)
        torch.testing.assert_close(query, want_q, **TOL[torch.bfloat16])
        torch.testing.assert_close(key, want_k, **TOL[torch.bfloat16])
        self.assertTrue(torch.equal(qkv[:, (nq + nk) * hs:], v_before), "v was touched")

    def test_int32_positions_and_fp32_table_with_bf16_query(self):
        positions, query, key, hs, table, neox = _setup_rotary(ROTARY_CASES[3])
        positions, table = positions.int(), table.float()
        want = ref_rotary(positions, query, hs, table, neox)
        rv.rotary_embedding(positions, query, key, hs, table, neox)
        torch.testing.assert_close(query, want, **TOL[query.dtype])

    def test_table_changed_in_place_is_reconverted(self):
        """A bf16 table is converted to fp32 once and the copy kept until the table changes."""
        positions, query, key, hs, table, neox = _setup_rotary(ROTARY_CASES[1])
        q1, q2 = query.clone(), query.clone()
        rv.rotary_embedding(positions, q1, None, hs, table, neox)
        table.mul_(0.5)
        rv.rotary_embedding(positions, q2, None, hs, table, neox)
        torch.testing.assert_close(q2, ref_rotary(positions, query, hs, table, neox), **TOL[query.dtype])
        self.assertFalse(torch.equal(q1, q2))
        # A new table of the same shape and dtype (possibly at the freed one's address) is converted too.
        del table
        other = cos_sin_cache(ROTARY_CASES[1][1], base=500000.0, dtype=query.dtype)
        q3 = query.clone()
        rv.rotary_embedding(positions, q3, None, hs, other, neox)
        torch.testing.assert_close(q3, ref_rotary(positions, query, hs, other, neox), **TOL[query.dtype])

    def test_kernels_are_cached_by_shape(self):
        positions, query, key, hs, table, neox = _setup_rotary(ROTARY_CASES[0])
        specs = rv.spec_for(positions, query, key, hs, table, neox)
        self.assertEqual(specs, ["op=rope head_dim=64 rotary_dim=64 dtype=f16 index=i64 style=neox cos_sin=table "
                                 "q_heads=17 kv_heads=17"])
        rv.rotary_embedding(positions, query, key, hs, table, neox)
        k = rv.kernel_for(specs[0], "cpu")
        rv.rotary_embedding(positions, query, key, hs, table, neox)
        self.assertIs(rv.kernel_for(specs[0], "cpu"), k)

    def test_errors_name_the_argument(self):
        positions, query, key, hs, table, neox = _setup_rotary(ROTARY_CASES[4])
        bad = [
            (dict(head_size=121), "head_size"),
            (dict(head_size=0), "head_size"),
            (dict(cos_sin_cache=table[:, :31]), "cos_sin_cache"),
            (dict(cos_sin_cache=cos_sin_cache(2 * hs)), "cos_sin_cache"),
            (dict(cos_sin_cache=table.double()), "cos_sin_cache"),
            (dict(key=key.half()), "key"),
            (dict(query=query[..., :hs - 2]), "query"),
            (dict(query=torch.zeros(5, 11, 17, hs + 8)[..., :hs]), "query"),  # padded heads
            (dict(positions=positions.float()), "positions"),
            (dict(positions=positions[:, :3]), "query"),
            (dict(is_neox="yes"), "is_neox"),  # the operator's schema: torch names the argument
        ]
        for change, name in bad:
            args = dict(positions=positions, query=query, key=key, head_size=hs, cos_sin_cache=table, is_neox=neox)
            args.update(change)
            with self.subTest(argument=name, change=list(change)):
                with self.assertRaises(RuntimeError if name == "is_neox" else ropegen.ArgumentError) as e:
                    rv.rotary_embedding(**args)
                self.assertIn(f"argument '{name}'", str(e.exception))


def _setup_cache(case, num_tokens=42, num_heads=8, num_blocks=64, seed=0, extra_rows=3):
    hs, block, dtype, kv_dtype = case
    dtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(seed)
    # vLLM: qkv = randn(num_tokens, 3, num_heads, head_size); _, key, value = qkv.unbind(dim=1).
    # extra_rows: key/value longer than slot_mapping (a batch padded for a CUDA graph).
    qkv = torch.randn(num_tokens + extra_rows, 3, num_heads, hs, generator=g).to(dtype)
    _, key, value = qkv.unbind(dim=1)
    slots = torch.randperm(num_blocks * block, generator=g)[:num_tokens]
    slots[::7] = -1  # padding tokens
    if kv_dtype == "auto":
        key_cache = torch.randn(num_blocks, block, num_heads, hs, generator=g).to(dtype)
        value_cache = torch.randn(num_blocks, block, num_heads, hs, generator=g).to(dtype)
        k_scale = v_scale = torch.ones(1)
    else:
        key_cache = torch.randint(0, 256, (num_blocks, block, num_heads, hs), generator=g, dtype=torch.uint8)
        value_cache = torch.randint(0, 256, (num_blocks, block, num_heads, hs), generator=g, dtype=torch.uint8)
        k_scale = (key.float().amax() / 64.0).reshape(1)
        v_scale = (value.float().amax() / 64.0).reshape(1)
    return key, value, key_cache, value_cache, slots, kv_dtype, k_scale, v_scale


@unittest.skipIf(torch is None, NO_TORCH)
@unittest.skipIf(NO_HOST, NO_HOST or "")
class ReshapeAndCacheFlash(unittest.TestCase):
    def check(self, case):
        key, value, kc, vc, slots, kv_dtype, ks, vs = _setup_cache(case)
        want_k, want_v = kc.clone(), vc.clone()
        ref_cache(key, value, want_k, want_v, slots, kv_dtype, ks, vs)
        self.assertFalse(torch.equal(want_k, kc), "the reference wrote nothing")
        rv.reshape_and_cache_flash(key, value, kc, vc, slots, kv_dtype, ks, vs)
        self.assertTrue(torch.equal(kc, want_k), "key_cache differs from the reference")
        self.assertTrue(torch.equal(vc, want_v), "value_cache differs from the reference")

    def test_cases_from_vllm(self):
        for case in CACHE_CASES:
            with self.subTest(case=case):
                self.check(case)

    def test_hnd_memory_viewed_as_nhd(self):
        """A cache whose memory is [num_blocks, nkv, block, head_size] given as its NHD-shaped
        permuted view (vLLM's HND stride order) gets an order=hnd kernel."""
        for kv_dtype in ("auto", "fp8"):
            with self.subTest(kv_cache_dtype=kv_dtype):
                key, value, kc, vc, slots, kv_dtype, ks, vs = _setup_cache((64, 16, "bfloat16", kv_dtype))
                kc, vc = (c.permute(0, 2, 1, 3).contiguous().permute(0, 2, 1, 3) for c in (kc, vc))
                self.assertFalse(kc.is_contiguous())
                want_k, want_v = kc.clone(), vc.clone()
                ref_cache(key, value, want_k, want_v, slots, kv_dtype, ks, vs)
                rv.reshape_and_cache_flash(key, value, kc, vc, slots, kv_dtype, ks, vs)
                self.assertTrue(torch.equal(kc, want_k))
                self.assertTrue(torch.equal(vc, want_v))
                with self.assertRaises(ropegen.ArgumentError) as e:  # one layout for both caches
                    rv.reshape_and_cache_flash(key, value, kc, vc.contiguous(), slots, kv_dtype, ks, vs)
                self.assertIn("argument 'value_cache'", str(e.exception))

    def test_fp8_saturates_and_python_float_scales(self):
        key, value, kc, vc, slots, _, _, _ = _setup_cache((64, 16, "float32", "fp8"), num_tokens=10)
        key[1, 0, :4] = torch.tensor([1e6, -1e6, 0.0, 1e-9])
        want_k, want_v = kc.clone(), vc.clone()
        ref_cache(key, value, want_k, want_v, slots, "fp8", 0.25, 0.5)
        rv.reshape_and_cache_flash(key, value, kc, vc, slots, "fp8", 0.25, 0.5)
        self.assertTrue(torch.equal(kc, want_k))
        self.assertTrue(torch.equal(vc, want_v))
        self.assertGreaterEqual(slots[1].item(), 0)
        self.assertEqual(kc.view(-1, 8, 64)[slots[1], 0, :4].tolist(), [0x7E, 0xFE, 0, 0])  # +-448 saturated

    def test_errors_name_the_argument(self):
        key, value, kc, vc, slots, kv_dtype, ks, vs = _setup_cache(CACHE_CASES[0])
        kv = torch.zeros(64, 2, 16, 8, 64, dtype=kc.dtype)
        bad = [
            (dict(kv_cache_dtype="int8"), "kv_cache_dtype"),
            (dict(key_cache=kv[:, 0]), "key_cache"),
            (dict(key_cache=kc.float()), "key_cache"),
            (dict(value_cache=vc[:32]), "value_cache"),
            (dict(key=key[:, :4]), "key"),
            (dict(value=value[:10]), "value"),
            (dict(value=value.float()), "value"),
            (dict(slot_mapping=slots.float()), "slot_mapping"),
            (dict(kv_cache_dtype="fp8"), "key_cache"),  # a float16 cache for fp8
            (dict(kv_cache_dtype="fp8", key_cache=kc.view(torch.uint8)[..., :64],
                  value_cache=vc.view(torch.uint8)[..., :64], k_scale=None), "key_cache"),
        ]
        u8 = torch.zeros(64, 16, 8, 64, dtype=torch.uint8)
        bad.append((dict(kv_cache_dtype="fp8", key_cache=u8, value_cache=u8.clone(), k_scale=None), "k_scale"))
        bad.append((dict(kv_cache_dtype="fp8", key_cache=u8, value_cache=u8.clone(), v_scale=torch.ones(2)),
                    "v_scale"))
        for change, name in bad:
            args = dict(key=key, value=value, key_cache=kc, value_cache=vc, slot_mapping=slots, kv_cache_dtype=kv_dtype,
                        k_scale=ks, v_scale=vs)
            args.update(change)
            with self.subTest(argument=name, change=list(change)):
                with self.assertRaises(ropegen.ArgumentError) as e:
                    rv.reshape_and_cache_flash(**args)
                self.assertIn(f"argument '{name}'", str(e.exception))


# (head_size, rotary_dim or None, is_neox, dtype, q heads, kv heads, block, kv_cache_dtype)
FUSED_CASES = [
    (128, None, True, "bfloat16", 32, 8, 16, "auto"),
    (64, 32, False, "float32", 8, 8, 32, "auto"),
    (80, None, False, "float16", 4, 2, 16, "fp8"),
    (128, 64, True, "bfloat16", 17, 8, 16, "auto"),  # 17 % 8: the two operators
]


def _setup_fused(case, T=21, num_blocks=16, seed=0):
    hs, rot, neox, dtype, nq, nkv, block, kv_dtype = case
    dtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(seed)
    positions = torch.randint(0, 4096, (T,), generator=g)
    qkv = torch.randn(T, (nq + 2 * nkv) * hs, generator=g).to(dtype)
    query = qkv[:, :nq * hs]
    key = qkv[:, nq * hs:(nq + nkv) * hs].view(T, nkv, hs)
    value = qkv[:, (nq + nkv) * hs:].view(T, nkv, hs)
    table = cos_sin_cache(rot or hs, max_position=4096, dtype=dtype)
    slots = torch.randperm(num_blocks * block, generator=g)[:T]
    slots[3] = -1
    cdt = dtype if kv_dtype == "auto" else torch.uint8
    kc = torch.zeros(num_blocks, block, nkv, hs, dtype=cdt)
    vc = torch.zeros(num_blocks, block, nkv, hs, dtype=cdt)
    ks, vs = torch.tensor([0.05]), torch.tensor([0.03])
    return positions, query, key, value, kc, vc, slots, hs, table, neox, kv_dtype, ks, vs


@unittest.skipIf(torch is None, NO_TORCH)
@unittest.skipIf(NO_HOST, NO_HOST or "")
class Fused(unittest.TestCase):
    def test_cases(self):
        for case in FUSED_CASES:
            with self.subTest(case=case):
                a = _setup_fused(case)
                positions, query, key, value, kc, vc, slots, hs, table, neox, kv_dtype, ks, vs = a
                want_q = ref_rotary(positions, query, hs, table, neox)
                want_k = ref_rotary(positions, key, hs, table, neox)
                rv.rotary_embedding_and_cache(*a)
                torch.testing.assert_close(query, want_q, **TOL[query.dtype])
                torch.testing.assert_close(key, want_k, **TOL[key.dtype])
                # The caches hold the rotated key (as the kernel rounded it) and the value.
                want_kc, want_vc = torch.zeros_like(kc), torch.zeros_like(vc)
                ref_cache(key, value, want_kc, want_vc, slots, kv_dtype, ks, vs)
                self.assertTrue(torch.equal(kc, want_kc), "key_cache differs")
                self.assertTrue(torch.equal(vc, want_vc), "value_cache differs")
                # The same bytes as the two operators.
                b = _setup_fused(case)
                rv.rotary_embedding(b[0], b[1], b[2], hs, table, neox)
                rv.reshape_and_cache_flash(b[2], b[3], b[4], b[5], b[6], kv_dtype, ks, vs)
                for x, y, name in zip((query, key, kc, vc), (b[1], b[2], b[4], b[5]), ("query", "key", "kc", "vc")):
                    self.assertTrue(torch.equal(x, y), f"{name}: fused and unfused differ")

    def test_errors_name_the_argument(self):
        a = list(_setup_fused(FUSED_CASES[0]))
        for change, name in (({6: a[6][:5]}, "slot_mapping"), ({6: a[6].int()}, "slot_mapping"),
                             ({4: a[4][..., :64].contiguous(), 5: a[5][..., :64].contiguous()}, "key_cache"),
                             ({10: "fp4"}, "kv_cache_dtype"), ({7: 64}, "cos_sin_cache"),
                             ({0: a[0].view(3, 7)}, "positions")):
            b = list(a)
            for i, value in change.items():
                b[i] = value
            with self.subTest(argument=name):
                with self.assertRaises(ropegen.ArgumentError) as e:
                    rv.rotary_embedding_and_cache(*b)
                self.assertIn(f"argument '{name}'", str(e.exception))


@unittest.skipIf(torch is None, NO_TORCH)
@unittest.skipIf(NO_HOST, NO_HOST or "")
class Operators(unittest.TestCase):
    def test_schemas_declare_the_mutations(self):
        ops = torch.ops.ropegen_vllm
        for name, want in (("rotary_embedding", ["Tensor(a!) query", "Tensor(b!)? key"]),
                           ("reshape_and_cache_flash", ["Tensor(a!) key_cache", "Tensor(b!) value_cache"]),
                           ("rotary_embedding_and_cache", ["Tensor(a!) query", "Tensor(b!) key",
                                                           "Tensor(c!) key_cache", "Tensor(d!) value_cache"])):
            schema = str(getattr(ops, name).default._schema)
            for w in want:
                self.assertIn(w, schema)
            self.assertEqual(schema.count("!"), len(want), schema)

    def test_meta_tensors(self):
        """The fake (Meta) implementations check shapes without memory or a launch."""
        positions, query, key, hs, table, neox = (x.to("meta") if isinstance(x, torch.Tensor) else x
                                                  for x in _setup_rotary(ROTARY_CASES[0]))
        try:
            rv.rotary_embedding(positions, query, key, hs, table, neox)
        except NotImplementedError as e:
            self.skipTest(f"this PyTorch has no Python Meta kernels: {e}")
        with self.assertRaises(ropegen.ArgumentError) as e:
            rv.rotary_embedding(positions, query, key, hs + 2, table, neox)
        self.assertIn("argument 'query'", str(e.exception))
        c = [x.to("meta") if isinstance(x, torch.Tensor) else x for x in _setup_cache(CACHE_CASES[4])]
        rv.reshape_and_cache_flash(*c)
        c[5] = "fp8_e3m4"
        with self.assertRaises(ropegen.ArgumentError) as e:
            rv.reshape_and_cache_flash(*c)
        self.assertIn("argument 'kv_cache_dtype'", str(e.exception))
        f = [x.to("meta") if isinstance(x, torch.Tensor) else x for x in _setup_fused(FUSED_CASES[0])]
        rv.rotary_embedding_and_cache(*f)

    @unittest.skipUnless(torch is not None and hasattr(torch.library, "opcheck"),
                         f"torch.library.opcheck needs PyTorch 2.4+ (installed: {getattr(torch, '__version__', None)})")
    def test_opcheck(self):
        """PyTorch's operator checks (schema mutations, fake implementation, functionalization),
        as vLLM's test_pos_encoding and test_cache run them on their own operators."""
        ops = torch.ops.ropegen_vllm
        positions, query, key, hs, table, neox = _setup_rotary(ROTARY_CASES[5])
        torch.library.opcheck(ops.rotary_embedding.default, (positions, query, key, hs, table, neox))
        torch.library.opcheck(ops.rotary_embedding.default, (positions, query, None, hs, table, neox))
        key, value, kc, vc, slots, kv_dtype, ks, vs = _setup_cache(CACHE_CASES[4])
        torch.library.opcheck(ops.reshape_and_cache_flash.default, (key, value, kc, vc, slots, kv_dtype, ks, vs))
        f = [x.clone() if isinstance(x, torch.Tensor) else x for x in _setup_fused(FUSED_CASES[0])]
        torch.library.opcheck(ops.rotary_embedding_and_cache.default, tuple(f))

    @unittest.skipUnless(torch is not None and hasattr(torch, "compile"),
                         f"torch.compile needs PyTorch 2.0+ (installed: {getattr(torch, '__version__', None)})")
    def test_compile_fullgraph_cpu(self):
        case = FUSED_CASES[0]

        def step(positions, query, key, value, kc, vc, slots, table, ks, vs):
            rv.rotary_embedding(positions, query, key, 128, table, True)
            rv.reshape_and_cache_flash(key, value, kc, vc, slots, "auto", ks, vs)
            return query * 2

        def fused(positions, query, key, value, kc, vc, slots, table, ks, vs):
            rv.rotary_embedding_and_cache(positions, query, key, value, kc, vc, slots, 128, table, True, "auto", ks, vs)
            return query * 2

        for fn in (step, fused):
            a = _setup_fused(case)
            b = _setup_fused(case)
            pick = lambda x: (x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[8], x[11], x[12])
            out_eager = fn(*pick(a))
            out = torch.compile(fn, fullgraph=True, backend="aot_eager")(*pick(b))
            torch.testing.assert_close(out, out_eager, rtol=0, atol=0)
            for x, y in zip(pick(a), pick(b)):
                torch.testing.assert_close(x, y, rtol=0, atol=0)


@unittest.skipUnless(HAS_CUDA, "no CUDA device")
class Gpu(unittest.TestCase):
    def test_cases_on_the_gpu(self):
        for case in ROTARY_CASES:
            with self.subTest(case=case):
                RotaryEmbedding.check(self, case, device="cuda")
        for case in CACHE_CASES:
            if getattr(torch.version, "hip", None) and case[3] != "auto":
                continue  # the reference encodes OCP fp8; a gfx942 stores FNUZ
            with self.subTest(case=case):
                key, value, kc, vc, slots, kv_dtype, ks, vs = (x.cuda() if isinstance(x, torch.Tensor) else x
                                                               for x in _setup_cache(case))
                want_k, want_v = kc.clone(), vc.clone()
                ref_cache(key, value, want_k, want_v, slots, kv_dtype, ks, vs)
                rv.reshape_and_cache_flash(key, value, kc, vc, slots, kv_dtype, ks, vs)
                self.assertTrue(torch.equal(kc, want_k))
                self.assertTrue(torch.equal(vc, want_v))

    def _fused_cuda(self, case):
        return [x.cuda() if isinstance(x, torch.Tensor) else x for x in _setup_fused(case)]

    def test_cuda_graph_replay(self):
        case = FUSED_CASES[0]
        a = self._fused_cuda(case)
        want = self._fused_cuda(case)
        rv.rotary_embedding_and_cache(*want)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):  # warm-up: kernels compiled, table converted
            rv.rotary_embedding_and_cache(*self._fused_cuda(case)[:8], *a[8:])
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            rv.rotary_embedding_and_cache(*a)
        fresh = self._fused_cuda(case)
        for i in (0, 1, 2, 3, 4, 5, 6):  # the graph's inputs get this step's values
            a[i].copy_(fresh[i])
        g.replay()
        torch.cuda.synchronize()
        for i in (1, 2, 4, 5):
            self.assertTrue(torch.equal(a[i], want[i]), f"argument {i} differs after replay")

    @unittest.skipUnless(torch is not None and hasattr(torch, "compile"), "torch.compile needs PyTorch 2.0+")
    def test_compile_fullgraph(self):
        case = FUSED_CASES[0]

        def fused(positions, query, key, value, kc, vc, slots, table, ks, vs):
            rv.rotary_embedding_and_cache(positions, query, key, value, kc, vc, slots, 128, table, True, "auto", ks, vs)
            return query * 2

        pick = lambda x: (x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[8], x[11], x[12])
        a, b = self._fused_cuda(case), self._fused_cuda(case)
        out_eager = fused(*pick(a))
        out = torch.compile(fused, fullgraph=True)(*pick(b))
        torch.testing.assert_close(out, out_eager, rtol=0, atol=0)
        for x, y in zip(pick(a), pick(b)):
            torch.testing.assert_close(x, y, rtol=0, atol=0)


if __name__ == "__main__":
    unittest.main()
