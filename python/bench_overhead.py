#!/usr/bin/env python3
"""Host-side cost of one ropegen launch from Python, beside the C API's, and the time per
launch inside a CUDA graph. A measurement, not a test.

    ROPEGEN_LIB_DIR=build PYTHONPATH=python python3 python/bench_overhead.py [--tokens 1] [--calls 5000]

On CUDA (Llama-3-8B bf16 spec, paged cache) it prints per call:
  eager k(...)          Kernel.__call__: argument checks (cached per shape/stride/dtype),
                        PyTorch's current stream, ropegen_kernel_launch through ctypes
  operator k.op(...)    the same through torch.ops.ropegen (the dispatcher), what
                        torch.compile'd code calls
  C API (ctypes)        ropegen_kernel_launch with a prepared argument block: the floor for
                        any ctypes caller
  CUDA graph replay     GPU time per launch of a graph of --graph-calls launches
Decode-sized launches (a few tokens) are faster on the GPU than their host-side cost, so the
eager loops are host-bound and their wall time per call is the host cost. Without CUDA the
host target runs the kernel inside the call, so the figures include the kernel itself."""
import argparse
import ctypes
import time

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
    rows = []
    rows.append(("eager k(...)", per_call(lambda: k(**a), o.calls, sync)))
    opargs = dict(a)
    tab = opargs.pop("cos_sin_cache")
    opargs["cos"], opargs["sin"] = tab[:, :64], tab[:, 64:]
    if k.op is not None:
        rows.append(("operator k.op(...)", per_call(lambda: k.op(k.spec, **opargs), o.calls, sync)))
    # The C API with a prepared block: what remains is ctypes + ropegen_kernel_launch.
    views = k._views(dict(a))
    block = ropegen._library.new_args()
    for name, v in views.items():
        setattr(block, name, v.ptr)
    for name, value in k._plan(views).items():
        setattr(block, name, value)
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream if dev != "cpu" else None)
    launch, handle, ref = ropegen._library.lib.ropegen_kernel_launch, k._handle, ctypes.byref(block)
    rows.append(("C API (ctypes, prepared block)", per_call(lambda: launch(handle, ref, stream), o.calls, sync)))
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
        rows.append((f"CUDA graph replay ({o.graph_calls} launches/graph)",
                     start.elapsed_time(end) * 1e3 / (replays * o.graph_calls)))
    name = torch.cuda.get_device_name() if dev != "cpu" else "host target (kernel runs inside the call)"
    print(f"ropegen {ropegen.__version__}, PyTorch {torch.__version__}, {name}, {T} token(s), {k.target}")
    for label, us in rows:
        print(f"  {label:44s} {us:8.2f} us/call")


if __name__ == "__main__":
    main()
