"""vLLM-shaped operators backed by ropegen kernels.

    from ropegen import vllm as rg
    rg.rotary_embedding(positions, query, key, head_size, cos_sin_cache, is_neox)
    rg.reshape_and_cache_flash(key, value, key_cache, value_cache, slot_mapping, "auto", k_scale, v_scale)
    rg.rotary_embedding_and_cache(positions, query, key, value, key_cache, value_cache, slot_mapping,
                                  head_size, cos_sin_cache, is_neox, "auto", k_scale, v_scale)

The first two have the signatures and semantics of vLLM's `_custom_ops.rotary_embedding` and
`_custom_ops.reshape_and_cache_flash`; the third does both in one ropegen kernel
(op = rope_kv_append): query and key rotated in place, the rotated key and the value
written to the caches. Each is a PyTorch custom operator (torch.ops.ropegen_vllm.*) that
declares what it writes and has a fake (Meta) implementation, so torch.compile traces it
without graph breaks and a CUDA graph captures its launch. The kernel is chosen from the
tensors' shapes and dtypes (a DSL spec built from them) and kept per (spec, device).

Semantics (vLLM's, with what ropegen adds or refuses):
- rotary_embedding: positions [T] (or [B, S] with query [B, S, ...]), int64 or int32;
  query [T, nq * head_size] or [T, nq, head_size] (the token dimension may be strided, heads
  must be packed), key likewise with its own head count, or None; cos_sin_cache
  [max_position, rot_dim] = cos | sin halves (f32, f16 or bf16: ropegen's kernels read an
  fp32 table, so another dtype is converted once and the copy kept while the table is
  unchanged); rot_dim < head_size rotates the first rot_dim elements of each head. NeoX
  pairs (i, i + rot_dim/2) or GPT-J pairs (2i, 2i + 1). A position outside the table leaves
  its token unrotated (ropegen's bound; vLLM reads past the table).
- reshape_and_cache_flash: key/value [>= T, nkv, head_size] (rows past slot_mapping's T are
  ignored, as vLLM's padded batches have them); caches [num_blocks, block_size, nkv,
  head_size] (NHD memory, or HND memory viewed as NHD); slot_mapping [T], a negative slot skips the token;
  kv_cache_dtype "auto" (caches in key's dtype), "fp8" / "fp8_e4m3" or "fp8_e5m2" (caches
  as uint8 or the torch float8 type; stores saturate(round(x / scale)), k_scale and v_scale
  one-element float32 tensors or Python floats).
"""
import math
import threading
import weakref

import torch

from . import _kernel
from ._lib import ArgumentError

__all__ = ["reshape_and_cache_flash", "rotary_embedding", "rotary_embedding_and_cache", "kernel_for", "spec_for"]

_DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
_INDEX = {torch.int64: "i64", torch.int32: "i32"}
_CACHE_DTYPES = {"auto": "auto", "fp8": "fp8_e4m3", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"}
_FP8_TORCH = {"fp8_e4m3": ("float8_e4m3fn", "float8_e4m3fnuz"), "fp8_e5m2": ("float8_e5m2", "float8_e5m2fnuz")}
_MAX_HEADS = 1024

_lock = threading.Lock()
_kernels = {}  # (spec, device) -> ropegen.Kernel
_tables = {}  # (device, address, shape, strides, dtype) -> (weak ref to the table, its version, fp32 copy)


# ---- argument checks (shapes and dtypes only: shared by the eager and fake paths) ----------
def _dtype(name, t, allowed, what):
    if t.dtype not in allowed:
        raise ArgumentError(name, f"has dtype {t.dtype}, expected {what}")
    return allowed[t.dtype]


def _head_size(head_size):
    if isinstance(head_size, bool) or not isinstance(head_size, int) or head_size < 2 or head_size % 2 \
            or head_size > 1024:
        raise ArgumentError("head_size", f"is {head_size!r}, expected an even integer in 2..1024")
    return head_size


def _rows(name, t, positions, head_size):
    """t as [T, heads * head_size] (a view: the operator writes through it) and its heads."""
    lead = tuple(positions.shape)
    if t.dim() < len(lead) + 1 or tuple(t.shape[:len(lead)]) != lead:
        raise ArgumentError(name, f"has shape {list(t.shape)}; expected positions' shape {list(lead)} followed by "
                                  f"heads * head_size elements per token")
    T = positions.numel()
    width = math.prod(t.shape[len(lead):])
    if width == 0 or width % head_size:
        raise ArgumentError(name, f"has {width} elements per token, not a positive multiple of head_size {head_size}")
    heads = width // head_size
    if heads > _MAX_HEADS:
        raise ArgumentError(name, f"has {heads} heads; a ropegen kernel takes at most {_MAX_HEADS}")
    try:
        rows = t.view(T, width)
    except RuntimeError:
        raise ArgumentError(name, f"has shape {list(t.shape)} and strides {list(t.stride())}: a token's heads must be "
                                  f"packed (only the token dimension may be strided)") from None
    return rows, heads


def _table(cos_sin_cache, head_size):
    if cos_sin_cache.dim() != 2:
        raise ArgumentError("cos_sin_cache", f"has shape {list(cos_sin_cache.shape)}, expected [max_position, rot_dim]")
    _dtype("cos_sin_cache", cos_sin_cache, _DTYPES, "float32, float16 or bfloat16")
    rot = cos_sin_cache.shape[1]
    if rot < 2 or rot % 2 or rot > head_size:
        raise ArgumentError("cos_sin_cache", f"has {rot} columns (rot_dim, cos then sin halves); expected an even "
                                             f"number in 2..head_size ({head_size})")
    if cos_sin_cache.shape[0] == 0:
        raise ArgumentError("cos_sin_cache", "holds no position (shape [0, rot_dim])")
    return rot


def _rope_plan(positions, query, key, head_size, cos_sin_cache, is_neox):
    """The rope launches: [(spec, {field: tensor})] with the table left as cos_sin_cache."""
    head_size = _head_size(head_size)
    index = _dtype("positions", positions, _INDEX, "int64 or int32")
    dtype = _dtype("query", query, _DTYPES, "float32, float16 or bfloat16")
    if key is not None and key.dtype != query.dtype:
        raise ArgumentError("key", f"has dtype {key.dtype}, expected query's {query.dtype}")
    rot = _table(cos_sin_cache, head_size)
    q, nq = _rows("query", query, positions, head_size)
    k, nk = _rows("key", key, positions, head_size) if key is not None else (None, 0)
    pos = positions.reshape(-1)
    style = "neox" if is_neox else "gptj"
    base = f"op=rope head_dim={head_size} rotary_dim={rot} dtype={dtype} index={index} style={style} cos_sin=table"
    if k is not None and nq % nk == 0:
        return [(f"{base} q_heads={nq} kv_heads={nk}", dict(q=q, k=k, positions=pos))]
    # q alone, and k (a head count that does not divide q's) as the q of a second kernel.
    plan = [(f"{base} q_heads={nq} kv_heads=1", dict(q=q, positions=pos))]
    if k is not None:
        plan.append((f"{base} q_heads={nk} kv_heads=1", dict(q=k, positions=pos)))
    return plan


def _scale(name, s, device):
    if s is None:
        raise ArgumentError(name, "missing: an fp8 cache needs a one-element float32 scale")
    if not isinstance(s, torch.Tensor):
        return torch.full((1,), float(s), dtype=torch.float32, device=device)
    if s.dtype != torch.float32 or s.numel() != 1:
        raise ArgumentError(name, f"has dtype {s.dtype} and {s.numel()} elements, expected one float32")
    return s.reshape(1)


def _cache_plan(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, tokens=None,
                head_size=None):
    """(spec fields, {field: tensor}) of a paged NHD cache append; `tokens`: the token count
    the rows must cover (the fused op passes positions' count)."""
    if kv_cache_dtype not in _CACHE_DTYPES:
        raise ArgumentError("kv_cache_dtype", f"is {kv_cache_dtype!r}, expected one of {', '.join(_CACHE_DTYPES)}")
    cache_dtype = _CACHE_DTYPES[kv_cache_dtype]
    dtype = _dtype("key", key, _DTYPES, "float32, float16 or bfloat16")
    if value.dtype != key.dtype:
        raise ArgumentError("value", f"has dtype {value.dtype}, expected key's {key.dtype}")
    index = _dtype("slot_mapping", slot_mapping, _INDEX, "int64 or int32")
    if slot_mapping.dim() != 1:
        raise ArgumentError("slot_mapping", f"has shape {list(slot_mapping.shape)}, expected [num_tokens]")
    T = slot_mapping.shape[0]
    if key_cache.dim() != 4:
        raise ArgumentError("key_cache", f"has shape {list(key_cache.shape)}, expected [num_blocks, block_size, "
                                         f"num_kv_heads, head_size] (vLLM's flash layout)")
    nb, block, nkv, hs = key_cache.shape
    if head_size is not None and hs != head_size:
        raise ArgumentError("key_cache", f"has head size {hs} (shape {list(key_cache.shape)}), but head_size is "
                                         f"{head_size}")
    if tuple(value_cache.shape) != tuple(key_cache.shape):
        raise ArgumentError("value_cache", f"has shape {list(value_cache.shape)}, expected key_cache's "
                                           f"{list(key_cache.shape)}")
    orders = {}
    for name, c in (("key_cache", key_cache), ("value_cache", value_cache)):
        # NHD in memory (contiguous), or HND in memory viewed as NHD (vLLM's HND stride order).
        if c.is_contiguous():
            orders[name] = ("nhd", c)
        elif c.permute(0, 2, 1, 3).is_contiguous():
            orders[name] = ("hnd", c.permute(0, 2, 1, 3))
        else:
            raise ArgumentError(name, f"has strides {list(c.stride())} for shape {list(c.shape)}: a ropegen cache is "
                                      f"contiguous NHD or HND memory (a [num_blocks, 2, ...] kv_cache's [:, 0] view is "
                                      f"neither; give the caches their own storage or a [2, num_blocks, ...] kv_cache)")
        if cache_dtype == "auto":
            if c.dtype != key.dtype:
                raise ArgumentError(name, f"has dtype {c.dtype}, expected key's {key.dtype} (kv_cache_dtype 'auto')")
        elif c.dtype != torch.uint8 and str(c.dtype).replace("torch.", "") not in _FP8_TORCH[cache_dtype]:
            raise ArgumentError(name, f"has dtype {c.dtype}, expected uint8 or the torch {cache_dtype} type "
                                      f"(kv_cache_dtype {kv_cache_dtype!r})")
    if hs < 2 or hs % 2 or hs > 1024 or nkv > _MAX_HEADS or block > 4096 or block < 1:
        raise ArgumentError("key_cache", f"has shape {list(key_cache.shape)}: ropegen takes head_size even in 2..1024, "
                                         f"at most {_MAX_HEADS} heads and blocks of 1..4096 slots")
    order = orders["key_cache"][0]
    if orders["value_cache"][0] != order:
        raise ArgumentError("value_cache", f"is laid out {orders['value_cache'][0].upper()} in memory, key_cache "
                                           f"{order.upper()}: both caches need one layout")
    want = tokens if tokens is not None else T
    if tokens is not None and T != tokens:
        raise ArgumentError("slot_mapping", f"has {T} tokens, but positions has {tokens}")
    rows = {}
    for name, t in (("key", key), ("value", value)):
        if t.dim() == 2 and t.shape[1] == nkv * hs:
            t = t.view(t.shape[0], nkv, hs)
        if t.dim() != 3 or tuple(t.shape[1:]) != (nkv, hs):
            raise ArgumentError(name, f"has shape {list(t.shape)}, expected [num_tokens, {nkv}, {hs}] (the caches' "
                                      f"heads and head size)")
        if t.shape[0] < want:
            raise ArgumentError(name, f"has {t.shape[0]} tokens, fewer than slot_mapping's {want}")
        rows[name] = t[:want]
    args = dict(k=rows["key"], v=rows["value"], k_cache=orders["key_cache"][1], v_cache=orders["value_cache"][1],
                slot_mapping=slot_mapping)
    if cache_dtype != "auto":
        args["k_scale"] = _scale("k_scale", k_scale, key.device)
        args["v_scale"] = _scale("v_scale", v_scale, key.device)
    fields = (f"head_dim={hs} kv_heads={nkv} dtype={dtype} index={index} cache=paged(block={block},order={order})"
              + ("" if cache_dtype == "auto" else f" cache_dtype={cache_dtype}"))
    return fields, args, nkv, hs


# ---- kernels and launches ----------------------------------------------------------------------
def _device(t):
    return "cpu" if t.device.type == "cpu" else f"cuda:{t.device.index if t.device.index is not None else 0}"


def kernel_for(spec, device):
    """The ropegen kernel for `spec` on `device` ("cpu", "cuda:N"), created once."""
    key = (spec, device)
    k = _kernels.get(key)
    if k is None:
        with _lock:
            k = _kernels.get(key)
            if k is None:
                k = _kernels[key] = _kernel.context(device).kernel(spec)
    return k


def _fp32_table(table):
    """cos_sin_cache as float32: itself, or a copy kept while the same table object is alive
    and unchanged (its version counter), so a step converts nothing and a captured CUDA graph
    launches no conversion. A table freed and another allocated at its address is a miss."""
    if table.dtype == torch.float32:
        return table
    key = (str(table.device), table.data_ptr(), tuple(table.shape), tuple(table.stride()), table.dtype)
    hit = _tables.get(key)
    if hit is not None and hit[0]() is table and hit[1] == table._version:
        return hit[2]
    copy = table.float()
    with _lock:
        if len(_tables) >= 16:
            _tables.clear()
        _tables[key] = (weakref.ref(table), table._version, copy)
    return copy


def _launch(spec, args, device, table=None):
    if table is not None:
        args["cos_sin_cache"] = table
    kernel_for(spec, device)._launch_items(args, None)


def _rotary_impl(positions, query, key, head_size, cos_sin_cache, is_neox):
    plan = _rope_plan(positions, query, key, head_size, cos_sin_cache, is_neox)
    if positions.numel() == 0:
        return
    table = _fp32_table(cos_sin_cache)
    for spec, args in plan:
        _launch(spec, args, _device(query), table)


def _cache_impl(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale):
    fields, args, _, _ = _cache_plan(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale)
    if slot_mapping.numel() == 0:
        return
    _launch("op=kv_append " + fields, args, _device(key))


def _fused_plan(positions, query, key, value, key_cache, value_cache, slot_mapping, head_size, cos_sin_cache, is_neox,
                kv_cache_dtype, k_scale, v_scale):
    """(spec, args) of the fused kernel, or None where the shapes need the two operators."""
    if positions.dim() != 1:
        raise ArgumentError("positions", f"has shape {list(positions.shape)}, expected [num_tokens] (the fused "
                                         f"operator takes tokens flattened)")
    rope = _rope_plan(positions, query, key, head_size, cos_sin_cache, is_neox)
    fields, args, nkv, hs = _cache_plan(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale,
                                        v_scale, tokens=positions.numel(), head_size=head_size)
    if slot_mapping.dtype != positions.dtype:
        raise ArgumentError("slot_mapping", f"has dtype {slot_mapping.dtype}, expected positions' {positions.dtype} "
                                            f"(one index type per fused kernel)")
    if len(rope) != 1:  # q's heads are not a multiple of k's
        return None
    spec, r = rope[0]
    nq = r["q"].shape[1] // head_size
    rot = cos_sin_cache.shape[1]
    style = "neox" if is_neox else "gptj"
    k_rows = r["k"]  # [T, nkv * head_size], a view of key: the rotated key is written back there
    args.update(q=r["q"], positions=r["positions"], k=k_rows, k_out=k_rows)
    spec = (f"op=rope_kv_append {fields} rotary_dim={rot} q_heads={nq} style={style} cos_sin=table "
            f"outputs=separate")
    return spec, args


def _fused_impl(positions, query, key, value, key_cache, value_cache, slot_mapping, head_size, cos_sin_cache, is_neox,
                kv_cache_dtype, k_scale, v_scale):
    plan = _fused_plan(positions, query, key, value, key_cache, value_cache, slot_mapping, head_size, cos_sin_cache,
                       is_neox, kv_cache_dtype, k_scale, v_scale)
    if positions.numel() == 0:
        return
    if plan is None:
        _rotary_impl(positions, query, key, head_size, cos_sin_cache, is_neox)
        _cache_impl(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale)
        return
    spec, args = plan
    _launch(spec, args, _device(query), _fp32_table(cos_sin_cache))


# ---- fake implementations: the same checks, no launch -------------------------------------------
def _rotary_fake(positions, query, key, head_size, cos_sin_cache, is_neox):
    _rope_plan(positions, query, key, head_size, cos_sin_cache, is_neox)


def _cache_fake(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale):
    _cache_plan(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale)


def _fused_fake(positions, query, key, value, key_cache, value_cache, slot_mapping, head_size, cos_sin_cache, is_neox,
                kv_cache_dtype, k_scale, v_scale):
    _fused_plan(positions, query, key, value, key_cache, value_cache, slot_mapping, head_size, cos_sin_cache, is_neox,
                kv_cache_dtype, k_scale, v_scale)


# ---- the operators ---------------------------------------------------------------------------------
_SCHEMAS = {
    "rotary_embedding": ("rotary_embedding(Tensor positions, Tensor(a!) query, Tensor(b!)? key, int head_size, "
                         "Tensor cos_sin_cache, bool is_neox) -> ()", _rotary_impl, _rotary_fake),
    "reshape_and_cache_flash": ("reshape_and_cache_flash(Tensor key, Tensor value, Tensor(a!) key_cache, "
                                "Tensor(b!) value_cache, Tensor slot_mapping, str kv_cache_dtype, Tensor? k_scale, "
                                "Tensor? v_scale) -> ()", _cache_impl, _cache_fake),
    "rotary_embedding_and_cache": ("rotary_embedding_and_cache(Tensor positions, Tensor(a!) query, Tensor(b!) key, "
                                   "Tensor value, Tensor(c!) key_cache, Tensor(d!) value_cache, Tensor slot_mapping, "
                                   "int head_size, Tensor cos_sin_cache, bool is_neox, str kv_cache_dtype, "
                                   "Tensor? k_scale, Tensor? v_scale) -> ()", _fused_impl, _fused_fake),
}
LIBRARY = "ropegen_vllm"
_library = torch.library.Library(LIBRARY, "DEF")


def _register_fake(name, fn):
    qualname = f"{LIBRARY}::{name}"
    if hasattr(torch.library, "register_fake"):
        torch.library.register_fake(qualname, fn, lib=_library)
    elif hasattr(torch.library, "impl_abstract"):
        torch.library.impl_abstract(qualname, fn, lib=_library)
    else:
        _library.impl(name, fn, "Meta")
        _library.impl(name, fn, "AutogradMeta")  # 1.13 has no autograd fallthrough for Meta


for _name, (_schema, _impl, _fake) in _SCHEMAS.items():
    _library.define(_schema)
    _library.impl(_name, _impl, "CPU")
    _library.impl(_name, _impl, "CUDA")  # ROCm PyTorch's GPUs too
    _register_fake(_name, _fake)
_ops = getattr(torch.ops, LIBRARY)


def spec_for(positions, query, key, head_size, cos_sin_cache, is_neox):
    """The spec(s) rotary_embedding launches for these tensors (one, or two when query's
    heads are not a multiple of key's)."""
    return [s for s, _ in _rope_plan(positions, query, key, head_size, cos_sin_cache, is_neox)]


# ---- the vLLM-shaped functions ------------------------------------------------------------------------
def rotary_embedding(positions, query, key, head_size, cos_sin_cache, is_neox):
    """vLLM's rotary_embedding: query (and key, unless None) rotated in place."""
    _ops.rotary_embedding(positions, query, key, head_size, cos_sin_cache, is_neox)


def _scale_arg(s, ref):
    return s if s is None or isinstance(s, torch.Tensor) else torch.full((1,), float(s), dtype=torch.float32,
                                                                         device=ref.device)


def reshape_and_cache_flash(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype="auto", k_scale=None,
                            v_scale=None):
    """vLLM's reshape_and_cache_flash: key and value rows to their slots of the paged NHD
    caches (a negative slot skips the token)."""
    _ops.reshape_and_cache_flash(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype,
                                 _scale_arg(k_scale, key), _scale_arg(v_scale, key))


def rotary_embedding_and_cache(positions, query, key, value, key_cache, value_cache, slot_mapping, head_size,
                               cos_sin_cache, is_neox, kv_cache_dtype="auto", k_scale=None, v_scale=None):
    """rotary_embedding then reshape_and_cache_flash in one ropegen kernel (rope_kv_append):
    query and key rotated in place, the rotated key and the value to the caches. slot_mapping
    has positions' token count. Shapes the fused kernel cannot take (query heads not a
    multiple of key heads) run the two operators."""
    _ops.rotary_embedding_and_cache(positions, query, key, value, key_cache, value_cache, slot_mapping, head_size,
                                    cos_sin_cache, is_neox, kv_cache_dtype, _scale_arg(k_scale, key),
                                    _scale_arg(v_scale, key))
