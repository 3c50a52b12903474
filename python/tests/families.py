"""One kernel of every family and option that adds an argument to the argument block, and
PyTorch inputs for any kernel built from nothing but its own description
(ropegen_kernel_describe): test_cpu.py and test_gpu.py run each one eagerly, through its
custom operator and under torch.compile, and compare the bytes."""

# (label, spec with {dtype}): the arguments each adds are in the comment.
FAMILIES = (
    # k_scale, v_scale (one float each); the caches are fp8 bytes
    ("fp8_cache_per_tensor", "head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} cache=paged(block=4) "
                             "cache_dtype=fp8_e4m3 scales=per_tensor"),
    # k_scale, v_scale (one float per KV head)
    ("fp8_cache_per_head", "head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} cache=contiguous(order=nhd) "
                           "cache_dtype=fp8_e5m2 scales=per_head"),
    # q_out (fp8 bytes), k_out, q_scale
    ("fp8_q_outputs_separate", "op=rope head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} outputs=separate "
                               "q_dtype=fp8_e4m3"),
    # q_norm_weight, k_norm_weight
    ("qk_norm", "head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} cache=paged(block=4) qk_norm=rms(eps=1e-6)"),
    # bounds_error (u64 words: int64 in PyTorch)
    ("checks_bounds", "head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} cache=contiguous(order=nhd) checks=bounds"),
    # the MLA family: k is k_pe [tokens, rotary_dim], v is kv_c [tokens, kv_lora_rank], one cache
    ("mla_rope_append", "op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=2 kv_lora_rank=64 "
                        "dtype={dtype} style=gptj cache=paged(block=4)"),
    # the indexer family: weights (the v field, f32), k_norm_weight and k_norm_bias (f32), a
    # byte cache of block records, q_out (fp8 bytes) and head_weights (f32); bf16 only
    ("indexer_append", "op=indexer_append rotary_dim=64 q_heads=2 dtype=bf16 cache=paged(block=4) "
                       "cache_dtype=fp8_e4m3 k_norm=layernorm scale_fmt=ue8m0"),
    # seq_lens (and no cos/sin tables)
    ("dynamic_runtime_seq_lens", "op=rope head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} cos_sin=compute(theta=10000,"
                                 "scaling=dynamic(factor=2,original_max_position_embeddings=16,choose=runtime))"),
    # positions as [3, tokens]
    ("mrope", "op=rope head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} positions=mrope(sections=[4,6,6])"),
    # q_out, k_out beside the cache
    ("outputs_separate", "head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} cache=contiguous(order=nhd) "
                         "outputs=separate"),
)

ROWS = 16  # cos/sin table rows: the free dimension of every argument but the caches


def torch_dtype(torch, dtype):
    """The PyTorch storage of a described dtype: fp8 as bytes, u64 as int64."""
    if dtype.startswith(("fp8", "e2m1x2", "e8m0")):
        return torch.uint8
    return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "i32": torch.int32,
            "i64": torch.int64, "u64": torch.int64, "u8": torch.uint8, "i8": torch.int8}[dtype]


def inputs(kernel, tokens=5, device="cpu", seed=0):
    """Tensors for every argument the kernel describes, keyed by its name for them: a
    cache's free dimension (blocks or slots) is 2 * tokens, any other's ROWS; positions select
    rows, slots are distinct (one is padding), sequence lengths cross the scaling's original
    length, scales and norm weights are positive, what the kernel only writes starts at
    zero."""
    import torch
    g = torch.Generator().manual_seed(seed)
    out = {}
    for field, a in kernel.arguments.items():
        name = kernel.names[field]
        free = 2 * tokens if field.endswith("cache") else ROWS
        shape = [tokens if d == "tokens" else free if d is None else d for d in a["shape"]]
        dt = torch_dtype(torch, a["dtype"])
        if a["access"] == "write" or a["dtype"] == "u64":
            t = torch.zeros(shape, dtype=dt)
        elif field == "positions":
            t = torch.randint(0, ROWS, shape, generator=g, dtype=dt)
        elif field == "slot_mapping":
            t = torch.randperm(2 * tokens, generator=g)[:tokens].to(dt)
            t[tokens // 2] = -1
        elif field == "seq_lens":
            t = torch.randint(1, 4 * ROWS, shape, generator=g, dtype=dt)
        elif field.endswith("_scale"):
            t = (0.5 + torch.rand(shape, generator=g)).to(dt)
        elif field.endswith("_weight"):
            t = (1 + 0.25 * torch.randn(shape, generator=g)).to(dt)
        else:
            t = torch.randn(shape, generator=g).to(dt)
        out[name] = t.to(device)
    return out


def bits(t):
    """A tensor's bits as an integer tensor (floats compare by bit pattern, NaN included)."""
    import torch
    ints = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16,
            torch.float64: torch.int64}
    return t.view(ints[t.dtype]) if t.dtype in ints else t


def same_bytes(a, b):
    import torch
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(bits(a), bits(b))


def race(loop, threads=4):
    """Runs loop(0) .. loop(threads - 1) on threads at once, the interpreter switching between
    them as often as it can (repeat-call state shared by threads is what the callers test)."""
    import sys
    import threading
    ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(interval)


# layers = many kernels (kv_append, rope_kv_append): every per-layer argument a record holds
# in one of them (caches, quantized caches' scales, fp8 scales, norm weights, biases, outputs,
# gate_out) and bounds_error shared by the layers.
LAYERED = (
    ("layers_bf16_paged", "head_dim=64 q_heads=4 kv_heads=2 dtype={dtype} cache=paged(block=4) layers=many"),
    ("layers_int8_norm_outputs", "head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} cache=paged(block=4) layers=many "
                                 "cache_dtype=int8 scales=per_token_head qk_norm=rms(eps=1e-6) outputs=separate"),
    ("layers_fp8_per_head_bias_gate", "head_dim=32 q_heads=4 kv_heads=2 dtype={dtype} cache=contiguous(order=nhd) "
                                      "layers=many cache_dtype=fp8_e4m3 scales=per_head bias=qkv gate=interleaved"),
    ("layers_kv_append_bounds", "op=kv_append head_dim=32 kv_heads=2 dtype={dtype} cache=paged(block=4) layers=many "
                                "checks=bounds"),
)


def single_layer_spec(spec):
    """The layers = one spec of a layers = many spec."""
    return spec.replace(" layers=many", "")


def layer_inputs(many, one, layers=3, tokens=5, seed=0, device="cpu"):
    """A layers = many call's tensors, keyed by its names: layer l's come from inputs(one,
    seed=seed + l); q, k and v stacked with the layers outermost, every argument a layer owns
    a list with one tensor per layer, the shared ones (positions, slots, tables,
    bounds_error) layer 0's."""
    import torch
    per = [inputs(one, tokens, device=device, seed=seed + l) for l in range(layers)]
    out = {}
    for field in many.arguments:
        if field == "layers":
            continue
        name = many.names[field]
        if field in many._layer_own:
            out[name] = [p[name] for p in per]
        elif field in many._layer_moved:
            out[name] = torch.stack([p[name] for p in per])
        else:
            out[name] = per[0][name]
    return out


def clone_layers(args):
    """A deep copy of layer_inputs() (lists copied tensor by tensor)."""
    return {n: [t.clone() for t in v] if isinstance(v, (list, tuple)) else v.clone() for n, v in args.items()}


def copy_layers(dst, src):
    """Copies the values of one layer_inputs() dict into another's tensors, in place."""
    for n, v in src.items():
        for d, t in zip(dst[n], v) if isinstance(v, (list, tuple)) else ((dst[n], v),):
            d.copy_(t)


def per_layer(many, args, l):
    """Layer l's arguments for the single-layer kernel, as views of `args` (so its writes land
    there): its own tensors, row l of q, k and v, the shared ones."""
    out = {}
    for name, v in args.items():
        field = many._aliases.get(name, name)
        out[name] = v[l] if field in many._layer_own or field in many._layer_moved else v
    return out


def same_layers(a, b):
    """The names whose tensors (or any list element) differ between two layer_inputs() dicts."""
    bad = []
    for n in a:
        xs, ys = (a[n], b[n]) if isinstance(a[n], (list, tuple)) else ([a[n]], [b[n]])
        bad += [f"{n}[{i}]" if isinstance(a[n], (list, tuple)) else n
                for i, (x, y) in enumerate(zip(xs, ys)) if not same_bytes(x, y)]
    return bad
