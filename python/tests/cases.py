"""One kernel case end to end: inputs in NumPy or PyTorch storage (CPU or CUDA), the launch
through ropegen, and every output checked against reference.py."""
import numpy as np

import ropegen
import reference as ref

SENTINEL = 7.0  # every cache element the kernel must not touch keeps this value


class Case:
    def __init__(self, op="rope_kv_append", head_dim=64, rot=None, style="neox", q_heads=8, kv_heads=2, dtype="f32",
                 index="i32", cache="paged", order="nhd", block=16, tokens=37, packed=False, table="separate",
                 pad=True, slots_given=True, backend="numpy", device="cpu", seed=1, call="direct"):
        self.__dict__.update(locals())
        del self.__dict__["self"]
        self.rot = rot or head_dim

    def spec(self):
        s = f"op={self.op} head_dim={self.head_dim} kv_heads={self.kv_heads} dtype={self.dtype} index={self.index}"
        if self.op != "kv_append":
            s += f" q_heads={self.q_heads} rotary_dim={self.rot} style={self.style}"
        if self.op != "rope":
            s += (f" cache=paged(block={self.block},order={self.order})" if self.cache == "paged"
                  else f" cache=contiguous(order={self.order})")
        return s


def _store(c, x, dtype):
    """A float32 NumPy array into the case's storage (NumPy or torch, CPU or CUDA)."""
    if c.backend == "numpy":
        return np.ascontiguousarray(x.astype({"f32": np.float32, "f16": np.float16, "i32": np.int32,
                                               "i64": np.int64}[dtype]))
    import torch
    tdt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "i32": torch.int32,
           "i64": torch.int64}[dtype]
    return torch.from_numpy(np.array(x, copy=True)).to(device=c.device, dtype=tdt)  # never shares x


def _load(x):
    """Back to float64 NumPy (exact for every storage type)."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    return x.detach().to("cpu", dtype=__import__("torch").float64).numpy()


def run(c, kernel=None):
    rng = np.random.default_rng(c.seed)
    T, QH, KVH, D = c.tokens, c.q_heads, c.kv_heads, c.head_dim
    uses_rope, uses_cache = c.op != "kv_append", c.op != "rope"
    max_pos = 512
    k_ = kernel or ropegen.kernel(c.spec(), device=c.device)

    # Activations: packed QKV rows ([T, (QH + 2 KVH) D], as engines produce them) or separate.
    heads = (QH if uses_rope else 0, KVH, KVH if uses_cache else 0)
    if c.packed:
        row = sum(heads) * D + (8 if c.dtype == "f32" else 16)  # a gap after each row: stride > row
        buf = _store(c, rng.standard_normal((T, row)).astype(np.float32), c.dtype)
        views, at = [], 0
        for h in heads:
            views.append(buf[:, at:at + h * D] if h else None)
            at += h * D
        q, k, v = views
    else:
        q, k, v = (_store(c, rng.standard_normal((T, h, D)).astype(np.float32), c.dtype) if h else None for h in heads)
    qh, kh, vh = (None if x is None else _load(x).reshape(T, -1, D) for x in (q, k, v))

    args = {"k": k}
    if q is not None:
        args["q"] = q
    if v is not None:
        args["v"] = v
    pos = rng.permutation(max_pos)[:T]  # distinct: without slot_mapping, positions are slots
    args["positions"] = _store(c, pos, c.index)
    if uses_rope:
        tab = ref.table(max_pos, c.rot)
        if c.table == "cos_sin_cache":
            args["cos_sin_cache"] = _store(c, tab, "f32")
        else:  # separate arrays with a padded row stride
            h = c.rot // 2
            padded = np.zeros((max_pos, h + 4), np.float32)
            padded[:, :h] = tab[:, :h]
            cos = _store(c, padded, "f32")[:, :h]
            padded[:, :h] = tab[:, h:]
            sin = _store(c, padded, "f32")[:, :h]
            args["cos"], args["sin"] = cos, sin
        cos_t, sin_t = tab[:, :c.rot // 2], tab[:, c.rot // 2:]
    if uses_cache:
        paged = c.cache == "paged"
        total = max_pos
        if paged:
            total = (2 * T // c.block + 2) * c.block
            slots = rng.permutation(total)[:T]
        else:
            slots = rng.permutation(max_pos)[:T] if c.slots_given else pos.copy()
        if c.pad and c.slots_given:
            slots[T // 3] = -1
        shape = ref.cache_shape(total, KVH, D, c.order, paged, c.block)
        kc = _store(c, np.full(shape, SENTINEL, np.float32), c.dtype)
        vc = _store(c, np.full(shape, SENTINEL, np.float32), c.dtype)
        args["k_cache"], args["v_cache"] = kc, vc
        if c.slots_given:
            args["slot_mapping"] = _store(c, slots, c.index)

    row_end = sum(heads) * D
    gap_before = _load(buf)[:, row_end:].copy() if c.packed else None
    if c.call == "op":
        k_.op(k_.spec, **{n: a for n, a in args.items() if n != "cos_sin_cache"},
              **({"cos": args["cos_sin_cache"][:, :c.rot // 2], "sin": args["cos_sin_cache"][:, c.rot // 2:]}
                 if "cos_sin_cache" in args else {}))
    else:
        k_(**args)
    if c.device != "cpu":
        __import__("torch").cuda.synchronize()

    # The reference.
    if uses_rope:
        want_q, mag_q = ref.rotate(qh, pos, cos_t, sin_t, c.rot, c.style)
        want_k, mag_k = ref.rotate(kh, pos, cos_t, sin_t, c.rot, c.style)
        ref.check_rotated("q", _load(q).reshape(T, QH, D), want_q, mag_q, c.dtype, c.rot)
    else:
        want_k, mag_k = kh, np.zeros_like(kh)
    if c.op == "rope":
        ref.check_rotated("k", _load(k).reshape(T, KVH, D), want_k, mag_k, c.dtype, c.rot)
    else:
        assert np.array_equal(_load(k).reshape(T, KVH, D), kh), "k must not change"
        kc_got, vc_got = _load(kc), _load(vc)
        written = np.zeros(kc_got.shape[:-1], bool)
        for t in range(T):
            if slots[t] < 0:
                continue
            for h in range(KVH):
                i = ref.cache_index(int(slots[t]), h, c.order, paged, c.block)
                written[i] = True
                ref.check_rotated(f"k_cache[token {t}, head {h}]", kc_got[i], want_k[t, h], mag_k[t, h], c.dtype, c.rot)
                assert np.array_equal(vc_got[i], vh[t, h]), f"v_cache[token {t}, head {h}] is not v"
        untouched = ~written
        assert (kc_got[untouched] == SENTINEL).all(), "k_cache rows outside the slots were written"
        assert (vc_got[untouched] == SENTINEL).all(), "v_cache rows outside the slots were written"
    if c.packed:  # the gap after each packed row is never written
        assert np.array_equal(_load(buf)[:, row_end:], gap_before), "the gap after packed rows was written"
    return k_
