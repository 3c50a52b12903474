"""The package on an NVIDIA GPU through PyTorch: numerics against reference.py, the custom
operator under torch.compile(fullgraph=True) (for a kernel of every family and option that
adds an argument too), compiled values against eager bit for bit (inductor, aot_eager,
reduce-overhead; PyTorch's reinplacing hazard beside a pure-torch operator), resolved repeat
calls and their checks, CUDA graph capture and replay, and launches on a non-default stream;
layers = many through its operator, a CUDA graph and torch.compile.
Skipped (with the reason) where PyTorch or CUDA is missing.

    ROPEGEN_LIB_DIR=build-gpu PYTHONPATH=python python3 -m pytest -rs python/tests/test_gpu.py
    (or python3 python/tests/test_gpu.py without pytest)"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paths  # noqa: E402,F401  (the package and library from a source checkout)
try:
    import torch
except ImportError:
    torch = None
import ropegen  # noqa: E402

try:  # the NumPy reference model; the PyTorch-only tests below run without it
    from cases import Case, run
    NO_NUMPY = None
except ImportError as e:
    NO_NUMPY = f"NumPy is not installed ({e})"
import families  # noqa: E402

if torch is None:
    SKIP = "PyTorch is not installed"
elif not torch.cuda.is_available():
    SKIP = f"no CUDA device visible to PyTorch {torch.__version__}"
else:
    SKIP = None
HAS_COMPILE = torch is not None and hasattr(torch, "compile") and hasattr(torch.library, "custom_op")


def llama_inputs(T, packed=False, seed=0, device="cuda"):
    """Llama-3-8B shaped bf16 inputs for a paged cache, with one padding slot."""
    g = torch.Generator(device=device).manual_seed(seed)
    QH, KVH, D, B = 32, 8, 128, 16
    if packed:
        qkv = torch.randn(T, (QH + 2 * KVH) * D, device=device, generator=g).bfloat16()
        q, k, v = qkv[:, :QH * D], qkv[:, QH * D:(QH + KVH) * D], qkv[:, (QH + KVH) * D:]
    else:
        q = torch.randn(T, QH, D, device=device, generator=g).bfloat16()
        k = torch.randn(T, KVH, D, device=device, generator=g).bfloat16()
        v = torch.randn(T, KVH, D, device=device, generator=g).bfloat16()
    nb = (2 * T + B - 1) // B + 1
    kc = torch.zeros(nb, B, KVH, D, device=device, dtype=torch.bfloat16)
    vc = torch.zeros_like(kc)
    pos = torch.randint(0, 4096, (T,), device=device, generator=g)
    slots = torch.randperm(nb * B, device=device, generator=g)[:T]
    if T > 2:
        slots[T // 2] = -1
    inv = 1.0 / 10000.0 ** (torch.arange(0, D, 2, dtype=torch.float64, device=device) / D)
    ang = torch.arange(4096, dtype=torch.float64, device=device)[:, None] * inv[None, :]
    table = torch.cat([ang.cos(), ang.sin()], dim=1).float()  # vLLM's [max_pos, rot] = [cos | sin]
    return dict(q=q, k=k, v=v, k_cache=kc, v_cache=vc, positions=pos, slot_mapping=slots, cos_sin_cache=table)


def torch_reference(a):
    """PyTorch (float64) of the same formulas: rotated q, cache rows for k and v."""
    T = a["positions"].shape[0]
    D = a["k_cache"].shape[-1]
    tab = a["cos_sin_cache"].double()
    c, s = tab[a["positions"], :D // 2][:, None, :], tab[a["positions"], D // 2:][:, None, :]

    def rope(x):
        x = x.double().reshape(T, -1, D)
        x0, x1 = x[..., :D // 2], x[..., D // 2:]
        return torch.cat([x0 * c - x1 * s, x1 * c + x0 * s], dim=-1)

    return rope(a["q"]), rope(a["k"]), a["v"].double().reshape(T, -1, D)


def check_against(test, a, q_before, k_before, v_before):
    want_q, want_k, want_v = torch_reference(dict(a, q=q_before, k=k_before, v=v_before))
    T, D = a["positions"].shape[0], a["k_cache"].shape[-1]
    tol = dict(rtol=2 ** -7, atol=2 ** -8)  # one bf16 rounding of the fp32 result
    torch.testing.assert_close(a["q"].double().reshape(T, -1, D), want_q, **tol)
    keep = a["slot_mapping"] >= 0
    rows_k = a["k_cache"].reshape(-1, *a["k_cache"].shape[2:])[a["slot_mapping"][keep]].double()
    rows_v = a["v_cache"].reshape(-1, *a["v_cache"].shape[2:])[a["slot_mapping"][keep]].double()
    torch.testing.assert_close(rows_k, want_k[keep], **tol)
    test.assertTrue(torch.equal(rows_v, want_v[keep]), "v_cache rows are exact copies of v")
    written = (a["k_cache"].reshape(-1, a["k_cache"].shape[-2] * D) != 0).any(dim=1).sum().item()
    test.assertEqual(written, int(keep.sum().item()), "only the tokens' slots are written (padding skipped)")


@unittest.skipIf(SKIP, SKIP or "")
class Gpu(unittest.TestCase):
    SPEC = "head_dim=128 q_heads=32 kv_heads=8 dtype=bf16 index=i64 cache=paged(block=16,order=nhd)"

    def kernel(self):
        return ropegen.kernel(self.SPEC, device="cuda")

    @unittest.skipIf(NO_NUMPY, NO_NUMPY or "")
    def test_numerics_matrix(self):
        """The reference.py cases through CUDA tensors (bf16, f16, f32; NeoX, GPT-J; paged,
        contiguous; packed QKV; partial rotary)."""
        for c in (Case(dtype="bf16", backend="torch", device="cuda", packed=True, table="cos_sin_cache"),
                  Case(dtype="bf16", backend="torch", device="cuda", style="gptj", rot=32, cache="contiguous",
                       order="hnd"),
                  Case(dtype="f16", backend="torch", device="cuda", cache="paged", order="hnd", index="i64"),
                  Case(dtype="f32", backend="torch", device="cuda", op="rope", packed=True),
                  Case(dtype="bf16", backend="torch", device="cuda", op="kv_append", cache="contiguous",
                       order="nhd"),
                  Case(dtype="bf16", backend="torch", device="cuda", call="op", tokens=300)):
            with self.subTest(spec=c.spec()):
                k = run(c)
                self.assertTrue(k.target.startswith("sm_"), k.target)

    def test_numerics_llama_bf16_against_torch(self):
        k = self.kernel()
        for T in (1, 7, 4096):
            a = llama_inputs(T, packed=True, seed=T)
            before = a["q"].clone(), a["k"].clone(), a["v"].clone()
            k(**a)
            torch.cuda.synchronize()
            check_against(self, a, *before)

    def test_wrong_device(self):
        k = self.kernel()
        a = llama_inputs(5)
        a["q"] = a["q"].cpu()
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**a)
        self.assertIn("argument 'q': is in cpu memory, expected cuda:", str(e.exception))

    def test_non_default_stream(self):
        """Work queued behind a sleeping kernel on stream s: if the launch went anywhere but s
        it would finish during the sleep."""
        k = self.kernel()
        a = llama_inputs(64)
        q0 = a["q"].clone()
        torch.cuda.synchronize()
        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            torch.cuda._sleep(200_000_000)  # ~0.1 s on an H100
            k(**a)
        other = torch.cuda.Stream()
        with torch.cuda.stream(other):
            snapshot = a["q"].to("cpu")  # copies on `other`, which does not wait for s
        self.assertFalse(s.query(), "the sleep should still be running")
        self.assertTrue(torch.equal(snapshot, q0.cpu()), "q changed before stream s reached the launch")
        s.synchronize()
        self.assertFalse(torch.equal(a["q"], q0))
        # An explicit stream argument goes to that stream too.
        a2 = llama_inputs(64, seed=5)
        before = a2["q"].clone(), a2["k"].clone(), a2["v"].clone()
        s2 = torch.cuda.Stream()
        k(stream=s2, **a2)
        s2.synchronize()
        check_against(self, a2, *before)

    def test_cuda_graph_capture_and_replay(self):
        k = self.kernel()
        a = llama_inputs(32, seed=1)
        fresh = llama_inputs(32, seed=2)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the graph, as PyTorch recommends
            k(**a)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            k(**a)
        # New inputs in the captured buffers, then replay.
        for name in ("q", "k", "v", "positions", "slot_mapping"):
            a[name].copy_(fresh[name])
        a["k_cache"].zero_()
        a["v_cache"].zero_()
        before = a["q"].clone(), a["k"].clone(), a["v"].clone()
        graph.replay()
        torch.cuda.synchronize()
        check_against(self, a, *before)

    @unittest.skipUnless(HAS_COMPILE, "torch.compile with torch.library.custom_op needs PyTorch 2.4+")
    def test_compile_fullgraph(self):
        self._compile(packed=False)

    @unittest.skipUnless(HAS_COMPILE, "torch.compile with torch.library.custom_op needs PyTorch 2.4+")
    def test_compile_fullgraph_packed_qkv(self):
        """q, k, v as views of one packed tensor: the operator mutates views of a shared base."""
        self._compile(packed=True)

    def _compile(self, packed):
        k = self.kernel()

        def step(q, key, v, k_cache, v_cache, positions, slot_mapping, cos_sin_cache):
            k(q=q, k=key, v=v, k_cache=k_cache, v_cache=v_cache, positions=positions, slot_mapping=slot_mapping,
              cos_sin_cache=cos_sin_cache)
            return q.float().sum(), k_cache

        names = ("q", "k", "v", "k_cache", "v_cache", "positions", "slot_mapping", "cos_sin_cache")
        a = llama_inputs(48, packed=packed, seed=3)
        if hasattr(torch, "_dynamo") and hasattr(torch._dynamo, "explain"):
            torch._dynamo.reset()
            probe = llama_inputs(48, packed=packed, seed=3)
            explained = torch._dynamo.explain(step)(*(probe[n] for n in names))
            self.assertEqual(explained.graph_break_count, 0, str(explained.break_reasons))
            ops = [str(n.target) for g in explained.graphs for n in g.graph.nodes if n.op == "call_function"]
            self.assertTrue(any("ropegen" in o for o in ops), ops)
        torch._dynamo.reset()
        compiled = torch.compile(step, fullgraph=True)  # any graph break is an error
        before = a["q"].clone(), a["k"].clone(), a["v"].clone()
        total, kc = compiled(*(a[n] for n in names))
        torch.cuda.synchronize()
        check_against(self, a, *before)
        self.assertEqual(kc.data_ptr(), a["k_cache"].data_ptr())
        # A second call with other values (same shapes) reuses the graph and is right too.
        b = llama_inputs(48, packed=packed, seed=4)
        before = b["q"].clone(), b["k"].clone(), b["v"].clone()
        compiled(*(b[n] for n in names))
        torch.cuda.synchronize()
        check_against(self, b, *before)

    @unittest.skipUnless(HAS_COMPILE, "torch.compile with torch.library.custom_op needs PyTorch 2.4+")
    def test_compile_reduce_overhead(self):
        """mode="reduce-overhead" (CUDA graphs where PyTorch applies them) stays right across calls."""
        k = self.kernel()

        def step(q, key, v, k_cache, v_cache, positions, slot_mapping, cos_sin_cache):
            k(q=q, k=key, v=v, k_cache=k_cache, v_cache=v_cache, positions=positions, slot_mapping=slot_mapping,
              cos_sin_cache=cos_sin_cache)

        names = ("q", "k", "v", "k_cache", "v_cache", "positions", "slot_mapping", "cos_sin_cache")
        torch._dynamo.reset()
        compiled = torch.compile(step, fullgraph=True, mode="reduce-overhead")
        for seed in (10, 11, 12):
            a = llama_inputs(16, seed=seed)
            before = a["q"].clone(), a["k"].clone(), a["v"].clone()
            compiled(*(a[n] for n in names))
            torch.cuda.synchronize()
            check_against(self, a, *before)

    @unittest.skipUnless(HAS_COMPILE, "torch.library.opcheck needs PyTorch 2.4+")
    def test_opcheck(self):
        """PyTorch's own consistency checks of the operator (schema, fake, functionalization)."""
        k = self.kernel()
        a = llama_inputs(8, seed=6)
        tab = a.pop("cos_sin_cache")
        a["cos"], a["sin"] = tab[:, :64], tab[:, 64:]
        torch.library.opcheck(k.op.default, (k.spec,), a,
                              test_utils=("test_schema", "test_faketensor", "test_aot_dispatch_dynamic"))


def expected_failure(test, reason):
    """Marks the running test as an expected failure (pytest's xfail; a skip with the reason
    under unittest), so the report shows it and a fixed PyTorch turns it into a pass."""
    try:
        import pytest
    except ImportError:
        test.skipTest("expected failure: " + reason)
    pytest.xfail(reason)


if HAS_COMPILE:
    # A pure-torch operator that rotates q in place (NeoX, the table's [cos | sin] rows): the
    # same mutation as ropegen's operator with no ropegen in it, so a wrong compiled value
    # that both show comes from PyTorch's handling of in-place custom operators.
    @torch.library.custom_op("ropegen_test::torch_rope_q", mutates_args=("q",))
    def torch_rope_q(q: torch.Tensor, positions: torch.Tensor, cos_sin_cache: torch.Tensor) -> None:
        T, D = q.shape[0], 128
        x = q.reshape(T, -1, D).float()
        c = cos_sin_cache[positions, :D // 2][:, None, :]
        s = cos_sin_cache[positions, D // 2:][:, None, :]
        x0, x1 = x[..., :D // 2], x[..., D // 2:]
        q.copy_(torch.cat([x0 * c - x1 * s, x1 * c + x0 * s], dim=-1).to(q.dtype).reshape(q.shape))

    @torch_rope_q.register_fake
    def _(q, positions, cos_sin_cache):
        return None


def engine_inputs(T, seed, intermediate):
    """What an engine hands the layer: the qkv projection (fp32, cast inside the compiled
    function, so q, k, v are views of an intermediate; or bf16, views of a graph input), the
    paged caches, positions, slots and the cos/sin table."""
    a = llama_inputs(T, packed=True, seed=seed)
    qkv = a["q"]._base
    a = dict(qkv=qkv.float() if intermediate else qkv.clone(), k_cache=a["k_cache"], v_cache=a["v_cache"],
             positions=a["positions"], slot_mapping=a["slot_mapping"], cos_sin_cache=a["cos_sin_cache"])
    return a


def engine_step(kernel, reshape_clone):
    """q a strided view of the packed projection, k and v views; returns the rotated q and
    a clone of q taken before the kernel (as a reshape view of the clone, or the clone)."""
    QH, KVH, D = 32, 8, 128

    def step(qkv, k_cache, v_cache, positions, slot_mapping, cos_sin_cache):
        qkv = qkv.to(torch.bfloat16)  # a no-op for bf16 input
        q, key, v = qkv[:, :QH * D], qkv[:, QH * D:(QH + KVH) * D], qkv[:, (QH + KVH) * D:]
        before = q.clone()
        if kernel is None:
            torch.ops.ropegen_test.torch_rope_q(q, positions, cos_sin_cache)
        else:
            kernel(q=q, k=key, v=v, k_cache=k_cache, v_cache=v_cache, positions=positions, slot_mapping=slot_mapping,
                   cos_sin_cache=cos_sin_cache)
        return q, (before.reshape(before.shape[0], QH, D) if reshape_clone else before)

    return step


def compare_compiled(step, compile_args, T=12, seeds=(21, 22, 23), intermediate=True):
    """Runs `step` eagerly and compiled on copies of the same inputs (three times: reduce-
    overhead records graphs on later calls) and returns the outputs and caches that differ
    in any bit, as "seed: name" strings."""
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, **compile_args)
    wrong = []
    for seed in seeds:
        a = engine_inputs(T, seed, intermediate)
        b = {n: t.clone() for n, t in a.items()}
        want = [t.clone() for t in step(**a)]
        got = [t.clone() for t in compiled(**b)]  # clones: reduce-overhead reuses its outputs
        torch.cuda.synchronize()
        for name, x, y in (("rotated q", want[0], got[0]), ("clone of q", want[1], got[1])):
            if not families.same_bytes(x, y):
                wrong.append(f"{seed}: {name}")
        for n in a:
            if not families.same_bytes(a[n], b[n]):
                wrong.append(f"{seed}: {n}")
    return wrong


COMPILE_MODES = (("inductor", dict()), ("aot_eager", dict(backend="aot_eager")),
                 ("reduce-overhead", dict(mode="reduce-overhead")))


@unittest.skipIf(SKIP, SKIP or "")
@unittest.skipUnless(HAS_COMPILE, "torch.compile with torch.library.custom_op needs PyTorch 2.4+")
class CompiledValues(unittest.TestCase):
    """torch.compile'd code against eager, bit for bit: ropegen's kernel runs in both, so any
    difference is the compiled graph's handling of the in-place operator."""

    SPEC = Gpu.SPEC

    def test_compiled_equals_eager(self):
        k = ropegen.kernel(self.SPEC, device="cuda")
        for label, args in COMPILE_MODES:
            for intermediate in (True, False):
                with self.subTest(label, qkv="intermediate" if intermediate else "input"):
                    wrong = compare_compiled(engine_step(k, reshape_clone=False), args, intermediate=intermediate)
                    self.assertEqual(wrong, [], f"{label}: compiled values differ from eager")

    def test_reshape_view_of_the_pre_kernel_clone(self):
        """The reinplacing hazard of PyTorch's inductor (the pytorch issue 198031 family): the
        pre-kernel clone of q, returned as a reshape view, may come back holding the rotated
        values. The pure-torch operator and ropegen's run side by side in every mode, with
        inductor's enable_auto_functionalized_v2 on (the default) and off: ropegen's values may
        never be wrong where the pure-torch operator's are right in the same configuration (the
        cause is PyTorch's, not ropegen's registration), and aot_eager, which does not reinplace,
        must be right for both. Where a configuration gives wrong values for both, the test
        reports an expected failure naming each configuration and what it got, so the report
        says which settings are safe on the installed PyTorch, and it passes once none is wrong."""
        import torch._inductor.config as inductor_config
        k = ropegen.kernel(self.SPEC, device="cuda")
        has_v2 = hasattr(inductor_config, "enable_auto_functionalized_v2")
        configs = []
        for label, args in COMPILE_MODES:
            configs.append((label, args, None))
            if has_v2 and label != "aot_eager":
                configs.append((label + " with v2 off", args, False))
        results, report = {}, []
        for label, args, v2 in configs:
            for who, kernel in (("pure-torch", None), ("ropegen", k)):
                step = engine_step(kernel, reshape_clone=True)
                if v2 is None:
                    wrong = compare_compiled(step, args)
                else:
                    with inductor_config.patch(enable_auto_functionalized_v2=v2):
                        wrong = compare_compiled(step, args)
                results[label, who] = wrong
                report.append(f"{label}/{who}: {'right' if not wrong else 'wrong ' + ', '.join(wrong)}")
        text = "; ".join(report)
        for label, _, _ in configs:  # ropegen is never worse off than the pure-torch operator
            self.assertFalse(results[label, "ropegen"] and not results[label, "pure-torch"],
                             f"{label}: ropegen's values are wrong where the pure-torch operator's are right ({text})")
        self.assertEqual(results["aot_eager", "ropegen"], [], text)
        self.assertEqual(results["aot_eager", "pure-torch"], [], text)
        print(f"\nPyTorch {torch.__version__} reinplacing hazard: {text}")
        if any(results.values()):
            expected_failure(self, f"PyTorch {torch.__version__} reinplacing hazard reproduced for both operators "
                                   f"({text})")


@unittest.skipIf(SKIP, SKIP or "")
class ResolvedCallsGpu(unittest.TestCase):
    """Repeat calls patch the resolved block's addresses; a call that differs gets the
    full checks (CUDA tensors, eager and through the operator)."""

    def test_fast_repeat_then_wrong_stride(self):
        k = ropegen.kernel(Gpu.SPEC, device="cuda")
        for seed in (31, 32, 33):  # one key: resolved by the first call, patched after
            a = llama_inputs(9, packed=True, seed=seed)
            before = a["q"].clone(), a["k"].clone(), a["v"].clone()
            k(**a)
            torch.cuda.synchronize()
            check_against(self, a, *before)
        wide = torch.zeros(9, 48 * 128 + 2, device="cuda", dtype=torch.bfloat16)
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**dict(a, q=wide[:, :4096]))
        self.assertIn("row stride 6146 (q_stride) must be a multiple of 8", str(e.exception))
        with self.assertRaises(ropegen.ArgumentError) as e:
            k(**dict(a, q=a["q"].cpu()))
        self.assertIn("argument 'q': is in cpu memory", str(e.exception))
        if k.op is not None:
            tab = a.pop("cos_sin_cache")
            b = llama_inputs(9, packed=True, seed=34)
            btab = b.pop("cos_sin_cache")
            before = b["q"].clone(), b["k"].clone(), b["v"].clone()
            for _ in range(2):
                k.op(k.spec, cos=tab[:, :64], sin=tab[:, 64:], **a)
            k.op(k.spec, cos=btab[:, :64], sin=btab[:, 64:], **b)
            torch.cuda.synchronize()
            check_against(self, dict(b, cos_sin_cache=btab), *before)
            with self.assertRaises(RuntimeError) as e:
                k.op(k.spec, cos=tab[:, :64], sin=tab[:, 64:], **dict(a, q=wide[:, :4096]))
            self.assertIn("row stride 6146 (q_stride) must be a multiple of 8", str(e.exception))
            with self.assertRaises(RuntimeError) as e:  # positions (the first parameter) on the CPU
                k.op(k.spec, cos=tab[:, :64], sin=tab[:, 64:], **dict(a, positions=a["positions"].cpu()))
            self.assertIn("argument 'positions': is in cpu memory", str(e.exception))


    def test_cxx_fast_path_streams_and_graphs(self):
        """Repeat calls through the C++ fast path (when built) write the Python path's bytes on
        PyTorch's current stream, a side stream and inside a CUDA graph."""
        k = ropegen.kernel(Gpu.SPEC, device="cuda")
        if k._launcher is None:
            from ropegen import _torch_ext
            self.skipTest(f"the C++ fast path is not available here: {_torch_ext.reason()}")
        slow = ropegen.Context(*ropegen.parse_device("cuda")).kernel(Gpu.SPEC)
        slow._launcher = slow._fast = None
        k(**llama_inputs(9, packed=True, seed=40))  # resolves the key
        side = torch.cuda.Stream()
        for seed, stream in ((41, None), (42, side)):
            a = llama_inputs(9, packed=True, seed=seed)
            b = {n: t.clone() for n, t in a.items()}
            qkv = a["q"].as_strided((9, 48 * 128), (48 * 128, 1)).clone()  # b's q, k, v: one packed buffer too
            b.update(q=qkv[:, :4096], k=qkv[:, 4096:5120], v=qkv[:, 5120:])
            hits = k._launcher.stats()["hits"]
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream or torch.cuda.current_stream()):
                k(**a)
                slow(**b)
            torch.cuda.synchronize()
            self.assertEqual(k._launcher.stats()["hits"], hits + 1)
            for n in a:
                self.assertTrue(families.same_bytes(a[n], b[n]), f"seed {seed}: {n}")
        a = llama_inputs(9, packed=True, seed=43)
        b = {n: t.clone() for n, t in a.items()}
        qkv = a["q"].as_strided((9, 48 * 128), (48 * 128, 1)).clone()
        b.update(q=qkv[:, :4096], k=qkv[:, 4096:5120], v=qkv[:, 5120:])
        g = torch.cuda.CUDAGraph()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.graph(g):
            k(**a)
        g.replay()
        slow(**b)
        torch.cuda.synchronize()
        for n in a:  # the replay ran the kernel once (capture does not run it), as slow(**b) did
            self.assertTrue(families.same_bytes(a[n], b[n]), f"graph: {n}")


@unittest.skipIf(SKIP, SKIP or "")
class GpuFamilies(unittest.TestCase):
    """A kernel of every family and option that adds an argument (families.FAMILIES), bf16
    on the GPU: it has an operator, the operator writes the eager call's bytes, and so does
    torch.compile(fullgraph=True) of a function calling it."""

    def kernels(self):
        for label, spec in families.FAMILIES:
            yield label, ropegen.kernel(spec.format(dtype="bf16"), device="cuda")

    def test_operator_gives_the_eager_bytes(self):
        for label, k in self.kernels():
            with self.subTest(label, spec=k.spec):
                self.assertIsNotNone(k.op, f"{label}: no operator")
                a = families.inputs(k, tokens=37, device="cuda", seed=len(label))
                b = {n: t.clone() for n, t in a.items()}
                k(**a)
                k.op(k.spec, **k._field_names(b))
                torch.cuda.synchronize()
                for n in a:
                    self.assertTrue(families.same_bytes(a[n], b[n]), f"{label}: {n} differs from the eager call")

    @unittest.skipUnless(HAS_COMPILE, "torch.compile with torch.library.custom_op needs PyTorch 2.4+")
    def test_compile_fullgraph_every_family(self):
        for label, k in self.kernels():
            with self.subTest(label, spec=k.spec):
                a = families.inputs(k, tokens=37, device="cuda", seed=len(label))
                b = {n: t.clone() for n, t in a.items()}

                def step(tensors):
                    k(**tensors)

                k(**a)
                torch._dynamo.reset()
                torch.compile(step, fullgraph=True)(b)  # a graph break is an error
                torch.cuda.synchronize()
                for n in a:
                    self.assertTrue(families.same_bytes(a[n], b[n]), f"{label}: {n} differs under torch.compile")


@unittest.skipIf(SKIP, SKIP or "")
class GpuManyLayers(unittest.TestCase):
    """layers = many on the GPU (families.LAYERED, bf16): the operator and the eager call
    against single-layer launches of every layer, a CUDA graph that captured the launch
    (its record array built by the warm-up call) replayed with new values, a capture of
    addresses no call has seen refused, and torch.compile(fullgraph=True)."""

    def kernels(self):
        for label, spec in families.LAYERED:
            spec = spec.format(dtype="bf16")
            yield (label, ropegen.kernel(spec, device="cuda"),
                   ropegen.kernel(families.single_layer_spec(spec), device="cuda"))

    def single_layers(self, many, one, args):
        for l in range(len(args["k_cache"])):
            one(**families.per_layer(many, args, l))
        torch.cuda.synchronize()

    def test_operator_gives_the_single_layer_bytes(self):
        for label, many, one in self.kernels():
            with self.subTest(label, spec=many.spec):
                self.assertIsNotNone(many.op, f"{label}: no operator")
                a = families.layer_inputs(many, one, tokens=37, device="cuda", seed=len(label))
                b, c = families.clone_layers(a), families.clone_layers(a)
                many(**b)
                many.op(many.spec, **many._field_names(c))
                self.single_layers(many, one, a)
                self.assertEqual(families.same_layers(a, b), [], f"{label}: the eager call differs")
                self.assertEqual(families.same_layers(a, c), [], f"{label}: the operator differs")

    def test_cuda_graph_capture_and_replay(self):
        for label, many, one in self.kernels():
            with self.subTest(label, spec=many.spec):
                a = families.layer_inputs(many, one, tokens=37, device="cuda", seed=1)
                many(**a)  # the warm-up call: it builds the record array the graph reads
                torch.cuda.synchronize()
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    many.op(many.spec, **many._field_names(a))
                families.copy_layers(a, families.layer_inputs(many, one, tokens=37, device="cuda", seed=2))
                want = families.clone_layers(a)
                graph.replay()
                torch.cuda.synchronize()
                self.single_layers(many, one, want)
                self.assertEqual(families.same_layers(a, want), [], f"{label}: the replay differs")
                cold = families.clone_layers(a)
                with self.assertRaises(ropegen.ArgumentError) as e:
                    with torch.cuda.graph(torch.cuda.CUDAGraph()):
                        many(**cold)
                self.assertIn("before the capture", str(e.exception))

    @unittest.skipUnless(HAS_COMPILE, "torch.compile with torch.library.custom_op needs PyTorch 2.4+")
    def test_compile_fullgraph(self):
        for label, many, one in self.kernels():
            with self.subTest(label, spec=many.spec):
                a = families.layer_inputs(many, one, tokens=37, device="cuda", seed=3)
                b = families.clone_layers(a)

                def step(tensors):
                    many(**tensors)

                torch._dynamo.reset()
                torch.compile(step, fullgraph=True)(b)  # a graph break is an error
                self.single_layers(many, one, a)
                self.assertEqual(families.same_layers(a, b), [], f"{label}: differs under torch.compile")


if __name__ == "__main__":
    unittest.main()
