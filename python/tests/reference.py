"""Inputs and an independent float64 NumPy model of the kernel contract (docs/dsl.md),
shared by the CPU and GPU tests. Nothing here comes from ropegen's templates."""
import numpy as np

TYPE_EPS = {"f32": 0.0, "f16": 2.0 ** -10, "bf16": 2.0 ** -7}


def table(max_pos, rot, theta=10000.0):
    """vLLM's cos_sin_cache: [max_pos, rot] = [cos | sin], fp32."""
    inv = 1.0 / theta ** (np.arange(0, rot, 2, dtype=np.float64) / rot)
    ang = np.arange(max_pos, dtype=np.float64)[:, None] * inv[None, :]
    return np.concatenate([np.cos(ang), np.sin(ang)], axis=1).astype(np.float32)


def rotate(x, pos, cos, sin, rot, style):
    """x [T, H, D] float64 (the stored values), cos/sin [P, rot/2] fp32 tables.
    Returns the rotated values and the per-element magnitude |x0 c| + |x1 s| for the bound."""
    x = x.astype(np.float64).copy()
    c = cos[pos].astype(np.float64)[:, None, :]
    s = sin[pos].astype(np.float64)[:, None, :]
    h = rot // 2
    if style == "neox":
        i0, i1 = np.arange(h), np.arange(h) + h
    else:
        i0, i1 = np.arange(h) * 2, np.arange(h) * 2 + 1
    x0, x1 = x[..., i0].copy(), x[..., i1].copy()
    mag = np.zeros_like(x)
    x[..., i0] = x0 * c - x1 * s
    x[..., i1] = x1 * c + x0 * s
    mag[..., i0] = np.abs(x0 * c) + np.abs(x1 * s)
    mag[..., i1] = np.abs(x1 * c) + np.abs(x0 * s)
    return x, mag


def check_rotated(name, got, want, mag, dtype, rot):
    """Rotated elements within 8u(|x0 c| + |x1 s|) plus two ulps of the storage type;
    elements past rotary_dim bit-exact."""
    got = got.astype(np.float64)
    tol = 8 * 2.0 ** -24 * mag + 2 * TYPE_EPS[dtype] * np.abs(want) + 2.0 ** -24
    bad = np.abs(got - want) > tol
    if rot < got.shape[-1]:
        bad[..., rot:] = got[..., rot:] != want[..., rot:]
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{name}: {int(bad.sum())} elements wrong, first at {idx}: got {got[idx]!r}, "
                             f"want {want[idx]!r} (tol {tol[idx]!r})")


def cache_index(slot, head, order, paged, block):
    """Index of (slot, head)'s row in the cache array."""
    if paged:
        b, o = divmod(slot, block)
        return (b, o, head) if order == "nhd" else (b, head, o)
    return (slot, head) if order == "nhd" else (head, slot)


def cache_shape(slots_total, kv_heads, head_dim, order, paged, block):
    if paged:
        nb = slots_total // block
        return (nb, block, kv_heads, head_dim) if order == "nhd" else (nb, kv_heads, block, head_dim)
    return (slots_total, kv_heads, head_dim) if order == "nhd" else (kv_heads, slots_total, head_dim)
