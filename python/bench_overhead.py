#!/usr/bin/env python3
"""Host-side cost of one ropegen launch from Python, beside PyTorch's own floors measured in
the same run, and the time per launch inside a CUDA graph. A measurement, not a test.

    ROPEGEN_LIB_DIR=build PYTHONPATH=python python3 python/bench_overhead.py [--tokens 1] [--calls 5000]

Llama-3-8B bf16 spec, paged cache, q/k/v as views of one packed qkv tensor. Per call:
  floors (PyTorch alone, no ropegen):
    built-in in-place op          q.mul_(1.0): one ATen op through the dispatcher
    empty custom_op, same args    torch.library.custom_op with ropegen's operator schema
                                  (spec + every pointer field, the same mutations) and an
                                  empty body, called with the same arguments
    empty custom_op, 7 tensors    7 tensor arguments, 3 mutated, empty body
    empty Library op, same args   the schema defined with torch.library.Library and an empty
                                  Python implementation for the device (how ropegen registers)
  ropegen:
    eager k(...)                  Kernel.__call__ on a repeat call: the argument block resolved
                                  for this key, addresses patched, ropegen_kernel_launch (through
                                  the C++ fast path when it is built, see the header line)
    eager k(...), Python path     the same with the C++ fast path off for this kernel: Python
                                  reads the key and addresses, patches the block, calls ctypes
    operator k.op(...)            the same through torch.ops.ropegen (what compiled code calls)
    C API (ctypes, prepared)      ropegen_kernel_launch with a prepared block: the floor for any
                                  ctypes caller (the C checks and the driver launch)
    CUDA graph replay             GPU time per launch in a graph of --graph-calls launches
Decode-sized launches are faster on the GPU than their host-side cost, so the loops are host
bound and wall time per call is the host cost. On the host target (CPU tensors, --device cpu)
the kernel runs inside the call, so every ropegen row includes the kernel; the C API row is
that kernel plus the C checks."""
import argparse
import ctypes
import time
import typing

import torch

import ropegen


def per_call(fn, calls, sync):
    for _ in range(50):
        fn()
    sync()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def empty_ops(k):
    """Empty operators with ropegen's operator schema: (label, callable) for
    torch.library.custom_op (PyTorch 2.4+) and for torch.library.Library."""
    fields = ropegen.pointer_fields
    out = []
    if hasattr(torch.library, "custom_op"):
        params = ", ".join(f"{n}: typing.Optional[torch.Tensor] = None" for n in fields)
        ns = {"typing": typing, "torch": torch}
        exec(f"def empty(spec: str, {params}) -> None:\n    pass\n", ns)
        torch.library.custom_op("ropegen_bench::empty_same_args", mutates_args=tuple(k.mutated))(ns["empty"])
        out.append(("empty custom_op, same args", torch.ops.ropegen_bench.empty_same_args))

        def empty7(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                   positions: torch.Tensor, slot_mapping: torch.Tensor) -> None:
            pass

        torch.library.custom_op("ropegen_bench::empty7", mutates_args=("q", "k_cache", "v_cache"))(empty7)
        out.append(("empty custom_op, 7 tensors (3 mutated)", torch.ops.ropegen_bench.empty7))
    lib = torch.library.Library("ropegen_bench_lib", "DEF")
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    args = ", ".join(f"Tensor({next(letters)}!)? {n}=None" if n in k.mutated else f"Tensor? {n}=None" for n in fields)
    lib.define(f"empty(str spec, {args}) -> ()")
    for key in ("CPU", "CUDA"):
        lib.impl("empty", lambda *a, **kw: None, key)
    out.append(("empty Library op, same args", torch.ops.ropegen_bench_lib.empty))
    return out, lib


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=1)
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--graph-calls", type=int, default=100)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    o = p.parse_args()
    dev = o.device
    spec = "head_dim=128 q_heads=32 kv_heads=8 dtype=bf16 index=i64 cache=paged(block=16,order=nhd)"
    k = ropegen.kernel(spec, device=dev)
    T, bf = o.tokens, dict(device=dev, dtype=torch.bfloat16)
    qkv = torch.randn(T, 48 * 128, **bf)
    a = dict(q=qkv[:, :4096], k=qkv[:, 4096:5120], v=qkv[:, 5120:], k_cache=torch.zeros(64, 16, 8, 128, **bf),
             v_cache=torch.zeros(64, 16, 8, 128, **bf), positions=torch.arange(T, device=dev),
             slot_mapping=torch.arange(T, device=dev), cos_sin_cache=torch.randn(4096, 128, device=dev))
    sync = torch.cuda.synchronize if dev != "cpu" else (lambda: None)
    opargs = dict(a)
    tab = opargs.pop("cos_sin_cache")
    opargs["cos"], opargs["sin"] = tab[:, :64], tab[:, 64:]
    rows = []  # (group, label, us)
    q = a["q"]
    rows.append(("floor", "built-in in-place op q.mul_(1.0)", per_call(lambda: q.mul_(1.0), o.calls, sync)))
    floors, _keep = empty_ops(k)
    seven = dict((n, opargs[n]) for n in ("q", "k", "v", "k_cache", "v_cache", "positions", "slot_mapping"))
    for label, op in floors:
        if "7 tensors" in label:
            rows.append(("floor", label, per_call(lambda: op(**seven), o.calls, sync)))
        else:
            rows.append(("floor", label, per_call(lambda: op(k.spec, **opargs), o.calls, sync)))
    rows.append(("ropegen", "eager k(...)", per_call(lambda: k(**a), o.calls, sync)))
    fast = k._fast
    if fast is not None:  # the same kernel with the C++ fast path off: Python's own repeat path
        k._fast = None
        rows.append(("ropegen", "eager k(...), Python path (C++ fast path off)", per_call(lambda: k(**a), o.calls,
                                                                                         sync)))
        k._fast = fast
    if k.op is not None:
        rows.append(("ropegen", "operator k.op(...)", per_call(lambda: k.op(k.spec, **opargs), o.calls, sync)))
    # The C API with a prepared block: what remains is ctypes + ropegen_kernel_launch.
    views = k._views(dict(a))
    block = ropegen._library.new_args()
    for name, v in views.items():
        setattr(block, name, v.ptr)
    for name, value in k._plan(views).items():
        setattr(block, name, value)
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream if dev != "cpu" else None)
    launch, handle, ref = ropegen._library.lib.ropegen_kernel_launch, k._handle, ctypes.byref(block)
    rows.append(("ropegen", "C API (ctypes, prepared block)", per_call(lambda: launch(handle, ref, stream), o.calls,
                                                                        sync)))
    if dev != "cpu":
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            k(**a)
        torch.cuda.current_stream().wait_stream(s)
        with torch.cuda.graph(g):
            for _ in range(o.graph_calls):
                k(**a)
        g.replay()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        replays = 50
        start.record()
        for _ in range(replays):
            g.replay()
        end.record()
        end.synchronize()
        rows.append(("ropegen", f"CUDA graph replay ({o.graph_calls} launches/graph), GPU time",
                     start.elapsed_time(end) * 1e3 / (replays * o.graph_calls)))
    name = torch.cuda.get_device_name() if dev != "cpu" else "host target (the kernel runs inside the call)"
    from ropegen import _torch_ext
    print(f"ropegen {ropegen.__version__}, PyTorch {torch.__version__}, {name}, {T} token(s), {k.target}")
    why = _torch_ext.reason()
    print("  C++ fast path: " + ("on" if fast is not None else f"off ({why})"))
    for group, label, us in rows:
        print(f"  {group:8s} {label:58s} {us:8.2f} us/call")
    us = {label: v for _, label, v in rows}
    op = us.get("operator k.op(...)")
    for floor in ("empty custom_op, same args", "empty custom_op, 7 tensors (3 mutated)", "empty Library op, same args"):
        if op is not None and floor in us:
            print(f"  ratio    operator / {floor:44s} {op / us[floor]:8.2f}")


if __name__ == "__main__":
    main()
