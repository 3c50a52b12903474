"""The C++ fast path for repeat calls with PyTorch tensors (python/ropegen/csrc/fast.cpp,
built by ropegen._torch_ext): the same bytes as the Python path, the same errors after a
resolved call, the ROPEGEN_NO_TORCH_EXT switch, and the ctypes path where it cannot be built.
Tests that need the extension skip, naming the reason, where PyTorch's C++ headers or a
compiler are missing; ROPEGEN_TEST_REQUIRE_TORCH_EXT=1 (CI) makes that a failure."""
import json
import os
import subprocess
import sys
import tempfile
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paths  # noqa: E402,F401  (the package and library from a source checkout)
import ropegen  # noqa: E402
from ropegen import _torch_ext  # noqa: E402
import families  # noqa: E402
import host  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

NO_HOST = host.compiler_missing()
if torch is None:
    NO_EXT = "PyTorch is not installed (Debian: python3-torch)"
elif _torch_ext.module() is None:
    NO_EXT = f"the C++ fast path is not available here: {_torch_ext.reason()}"
else:
    NO_EXT = None
REQUIRED = os.environ.get("ROPEGEN_TEST_REQUIRE_TORCH_EXT") == "1"
SPEC = "head_dim=64 q_heads=4 kv_heads=2 dtype=f32 cache=paged(block=16)"


def python_path(spec):
    """A kernel of a new context with the fast path off: every call takes Python's path."""
    k = ropegen.Context("host").kernel(spec)
    k._launcher = k._fast = None
    return k


def fast_path(spec):
    k = ropegen.Context("host").kernel(spec)
    assert k._launcher is not None, _torch_ext.reason()
    return k


def inputs(seed=0, T=5):
    g = torch.Generator().manual_seed(seed)
    qkv = torch.randn(T, 8 * 64 + 4, generator=g)  # packed rows with a gap: strided views
    return dict(q=qkv[:, :256], k=qkv[:, 256:384], v=qkv[:, 384:512], k_cache=torch.zeros(4, 16, 2, 64),
                v_cache=torch.zeros(4, 16, 2, 64),
                positions=torch.randint(0, 32, (T,), generator=g, dtype=torch.int32),
                slot_mapping=torch.randperm(64, generator=g)[:T].to(torch.int32),
                cos_sin_cache=torch.randn(32, 64, generator=g))


def copy_packed(a):
    """A deep copy of inputs(): q, k and v views of one new packed buffer, as in `a`."""
    T = a["q"].shape[0]
    qkv = a["q"].as_strided((T, 8 * 64 + 4), (8 * 64 + 4, 1)).clone()
    b = {n: t.clone() for n, t in a.items()}
    b.update(q=qkv[:, :256], k=qkv[:, 256:384], v=qkv[:, 384:512])
    return b


def packed(seed=0, T=5):
    a = inputs(seed, T)
    return a, copy_packed(a)


class Available(unittest.TestCase):
    def test_built_where_required(self):
        if REQUIRED and torch is not None:
            self.assertIsNone(NO_EXT, "ROPEGEN_TEST_REQUIRE_TORCH_EXT=1, but " + str(NO_EXT))
        if NO_EXT:
            self.skipTest(NO_EXT)
        self.assertIsNone(_torch_ext.reason())


@unittest.skipIf(NO_HOST or NO_EXT, NO_HOST or NO_EXT or "")
class SameResults(unittest.TestCase):
    def test_repeat_calls_through_cxx_write_the_python_bytes(self):
        fast, slow = fast_path(SPEC), python_path(SPEC)
        for seed in range(4):
            a, b = packed(seed)
            fast(**a)
            slow(**b)
            for n in a:
                self.assertTrue(families.same_bytes(a[n], b[n]), f"call {seed}: {n}")
        stats = fast._launcher.stats()
        self.assertEqual(stats["keys"], 1)
        self.assertEqual(stats["hits"], 3, "the first call resolves in Python, the 3 repeats launch from C++")

    def test_every_family(self):
        """A kernel of every family and option that adds an argument: repeat calls through
        C++ (eager and through the operator) against the Python path, bit for bit."""
        for label, spec in families.FAMILIES:
            spec = spec.format(dtype="f32")
            with self.subTest(label, spec=spec):
                fast, slow = fast_path(spec), python_path(spec)
                for seed in range(3):
                    a = families.inputs(fast, seed=seed)
                    b = {n: t.clone() for n, t in a.items()}
                    c = {n: t.clone() for n, t in a.items()}
                    fast(**a)
                    slow(**b)
                    if fast.op is not None:
                        fast.op(fast.spec, **fast._field_names(c))
                    for n in a:
                        self.assertTrue(families.same_bytes(a[n], b[n]), f"{label} call {seed}: {n}")
                        if fast.op is not None:
                            self.assertTrue(families.same_bytes(c[n], b[n]), f"{label} operator {seed}: {n}")
                self.assertGreaterEqual(fast._launcher.stats()["hits"], 2, label)

    def test_bf16_cos_sin_cache_and_parameters(self):
        spec = "head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 index=i64 cache=paged(block=16,order=nhd)"
        fast, slow = fast_path(spec), python_path(spec)
        for seed in range(3):
            g = torch.Generator().manual_seed(seed)
            qkv = torch.randn(3, 12 * 128, generator=g).bfloat16()
            tab = torch.nn.Parameter(torch.randn(64, 128, generator=g), requires_grad=False)
            a = dict(q=qkv[:, :1024], k=qkv[:, 1024:1280], v=qkv[:, 1280:], k_cache=torch.zeros(4, 16, 2, 128).bfloat16(),
                     v_cache=torch.zeros(4, 16, 2, 128).bfloat16(), positions=torch.tensor([1, 7, 63]),
                     slot_mapping=torch.tensor([0, 17, -1]), cos_sin_cache=tab)
            qkv2 = qkv.clone()
            b = dict(a, q=qkv2[:, :1024], k=qkv2[:, 1024:1280], v=qkv2[:, 1280:], k_cache=a["k_cache"].clone(),
                     v_cache=a["v_cache"].clone())
            fast(**a)
            slow(**b)
            for n in ("q", "k", "k_cache", "v_cache"):
                self.assertTrue(families.same_bytes(a[n], b[n]), f"call {seed}: {n}")
        self.assertEqual(fast._launcher.stats()["hits"], 2)

    def test_explicit_stream_and_keyword_order(self):
        fast, slow = fast_path(SPEC), python_path(SPEC)
        a, b = packed(1)
        fast(**a)
        fast(stream=0, **a)  # an address: launched from C++ too
        slow(**b)
        slow(stream=0, **b)
        rev = dict(reversed(list(a.items())))  # other names order: another key, resolved in Python first
        rev_b = dict(reversed(list(b.items())))
        fast(**rev)
        fast(**rev)
        slow(**rev_b)
        slow(**rev_b)
        for n in a:
            self.assertTrue(families.same_bytes(a[n], b[n]), n)
        self.assertEqual(fast._launcher.stats()["keys"], 2)
        self.assertEqual(fast._launcher.stats()["hits"], 2)

    def test_more_keys_than_the_launcher_holds(self):
        """The Launcher keeps 256 keys, then starts again; Python keeps its own and hands a
        key back when the Launcher no longer has it."""
        fast, slow = fast_path(SPEC), python_path(SPEC)
        tokens = list(range(1, 301))
        for T in tokens + tokens[:20]:
            a = inputs(T % 7, T=min(T, 32))
            if T > 32:  # another key per T: a different cache size
                a["k_cache"], a["v_cache"] = torch.zeros(T, 16, 2, 64), torch.zeros(T, 16, 2, 64)
            b = {n: t.clone() for n, t in a.items()}
            fast(**a)
            slow(**b)
            for n in ("q", "k_cache", "v_cache"):
                self.assertTrue(families.same_bytes(a[n], b[n]), f"T={T}: {n}")
        self.assertLessEqual(fast._launcher.stats()["keys"], 256)
        before = fast._launcher.stats()["hits"]
        a = inputs(3, T=25)
        fast(**a)  # resolved long ago, evicted from the Launcher: Python hands it back
        fast(**a)
        self.assertEqual(fast._launcher.stats()["hits"], before + 1)

    def test_threads(self):
        k = fast_path(SPEC)
        work = [packed(seed) for seed in range(4)]
        wants = []
        for a, b in work:
            python_path(SPEC)(**b)
            wants.append(b)
        k(**inputs(9))
        bad = []

        def loop(i):
            for _ in range(200):
                a = copy_packed(work[i][0])
                k(**a)
                if not all(families.same_bytes(a[n], wants[i][n]) for n in ("q", "k", "k_cache", "v_cache")):
                    bad.append(i)

        families.race(loop)
        self.assertEqual(bad, [])
        self.assertGreaterEqual(k._launcher.stats()["hits"], 800)


@unittest.skipIf(NO_HOST or NO_EXT, NO_HOST or NO_EXT or "")
class ManyLayersTakeThePythonPath(unittest.TestCase):
    """A layers = many kernel has no Launcher (its calls take per-layer lists and a record
    array built from their addresses): with the extension loaded, its kernel says why, and
    its repeat calls, eager and through the operator, go through Python and write what
    single-layer launches write."""

    def test_repeat_calls_without_a_launcher(self):
        for label, spec in families.LAYERED:
            spec = spec.format(dtype="f32")
            with self.subTest(label, spec=spec):
                many = ropegen.Context("host").kernel(spec)
                one = fast_path(families.single_layer_spec(spec))
                self.assertIsNone(many._launcher)
                self.assertIsNone(one.fast_reason)
                self.assertIn("layers = many", many.fast_reason)
                for seed in range(3):
                    a = families.layer_inputs(many, one, seed=seed)
                    b, c = families.clone_layers(a), families.clone_layers(a)
                    many(**b)
                    if many.op is not None:
                        ropegen._registry.hook().call(many, c)  # what torch.compile traces
                    else:
                        many(**c)
                    for l in range(len(a["k_cache"])):
                        one(**families.per_layer(many, a, l))
                    self.assertEqual(families.same_layers(a, b), [], f"{label} call {seed}")
                    self.assertEqual(families.same_layers(a, c), [], f"{label} operator {seed}")
                self.assertGreaterEqual(one._launcher.stats()["hits"], 2)


@unittest.skipIf(NO_HOST or NO_EXT, NO_HOST or NO_EXT or "")
class SameErrors(unittest.TestCase):
    """After a repeat call launched from C++, a call that differs from the resolved key gets
    Python's full checks: the same exception, argument and message as without the fast path."""

    def error(self, k, a):
        with self.assertRaises(Exception) as e:
            k(**a)
        return type(e.exception), getattr(e.exception, "argument", None), str(e.exception)

    def test_wrong_stride_dtype_shape_device_alignment(self):
        fast, slow = fast_path(SPEC), python_path(SPEC)
        a = inputs()
        fast(**a)
        fast(**a)
        slow(**a)
        self.assertEqual(fast._launcher.stats()["hits"], 1)
        wide = torch.randn(5, 8 * 64 + 2)
        buf = torch.randn(5 * (8 * 64 + 4) + 1)
        cases = {
            "stride": dict(q=wide[:, :256]),
            "inner stride": dict(q=torch.randn(5, 4, 128)[:, :, ::2]),
            "dtype": dict(q=a["q"].double()),
            "index dtype": dict(positions=a["positions"].long()),
            "shape": dict(q=torch.randn(5, 3, 64)),
            "tokens": dict(k=torch.randn(4, 2, 64)),
            "cache layout": dict(k_cache=torch.zeros(8, 16, 2, 64)[::2]),
            "device": dict(v=torch.empty(5, 2, 64, device="meta")),
            "table": dict(cos_sin_cache=torch.randn(32, 32)),
            "misaligned": dict(q=buf[1:].view(5, 8 * 64 + 4)[:, :256]),
            "misaligned sin": dict(cos_sin_cache=torch.randn(32 * 64 + 1)[1:].view(32, 64)),
            "not a tensor": dict(q=object()),
            "sparse": dict(q=torch.randn(5, 256).to_sparse()),  # no strides: PyTorch's own error
            "unknown name": dict(qq=a["q"]),
        }
        for label, change in cases.items():
            with self.subTest(label):
                want = self.error(slow, dict(a, **change))
                self.assertEqual(self.error(fast, dict(a, **change)), want)
        missing = dict(a)
        del missing["slot_mapping"]
        self.assertEqual(self.error(fast, missing), self.error(slow, missing))
        self.assertEqual(fast._launcher.stats()["hits"], 1, "no call that differs launched from C++")
        fast(**a)
        self.assertEqual(fast._launcher.stats()["hits"], 2)

    def test_library_errors_come_through(self):
        """A launch the C library refuses raises the same ropegen.Error from C++ as from
        ctypes (a block whose abi_version field is off)."""
        fast, slow = fast_path(SPEC), python_path(SPEC)
        a = inputs()
        fast(**a)
        slow(**a)
        for k in (fast, slow):
            for r in k._resolved_calls():
                r.template = b"\xff" * 8 + r.template[8:]  # size field: nonsense
                r._local.__dict__.clear()
        fast._launcher.clear()
        with self.assertRaises(ropegen.Error):  # Python's path (the Launcher forgot the key) hands the block back
            fast(**a)
        hits = fast._launcher.stats()["hits"]
        with self.assertRaises(ropegen.Error) as e1:
            fast(**a)
        self.assertEqual(fast._launcher.stats()["hits"], hits + 1, "launched from C++")
        with self.assertRaises(ropegen.Error) as e2:
            slow(**a)
        self.assertIn("argument block has size", str(e1.exception))
        self.assertEqual((str(e1.exception), e1.exception.status), (str(e2.exception), e2.exception.status))


@unittest.skipIf(torch is None, "PyTorch is not installed (Debian: python3-torch)")
class Switches(unittest.TestCase):
    SCRIPT = """
import json, torch, ropegen
from ropegen import _torch_ext
k = ropegen.kernel("head_dim=64 q_heads=4 kv_heads=2 dtype=f32 cache=paged(block=16)", device="cpu")
g = torch.Generator().manual_seed(5)
a = dict(q=torch.randn(5, 4, 64, generator=g), k=torch.randn(5, 2, 64, generator=g), v=torch.randn(5, 2, 64, generator=g),
         k_cache=torch.zeros(4, 16, 2, 64), v_cache=torch.zeros(4, 16, 2, 64),
         positions=torch.arange(5, dtype=torch.int32), slot_mapping=torch.arange(5, dtype=torch.int32),
         cos_sin_cache=torch.randn(32, 64, generator=g))
k(**a)
k(**a)
print(json.dumps(dict(reason=_torch_ext.reason(), launcher=k._launcher is not None,
                      q=a["q"].view(torch.int32).sum().item(), kc=a["k_cache"].view(torch.int32).sum().item())))
"""

    _reference = None

    def reference(self):
        """The script's result with the fast path off (run once per test run)."""
        if Switches._reference is None:
            Switches._reference = self.run_script(ROPEGEN_NO_TORCH_EXT="1")[0]
        return Switches._reference

    def run_script(self, drop=(), **env):
        e = {n: v for n, v in os.environ.items() if n not in drop}
        e.update(env)
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(ropegen.__file__)))
        e["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in [e.get("PYTHONPATH")] if p])
        e.setdefault("ROPEGEN_LIB_DIR", os.path.dirname(ropegen.library_path))
        out = subprocess.run([sys.executable, "-c", self.SCRIPT], env=e, capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        try:
            return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr
        except (ValueError, IndexError):
            self.fail(f"no result from the script: stdout {out.stdout!r}, stderr {out.stderr!r}")

    @unittest.skipIf(NO_HOST, NO_HOST or "")
    def test_env_switch_turns_it_off(self):
        off = self.reference()
        self.assertFalse(off["launcher"])
        self.assertIn("ROPEGEN_NO_TORCH_EXT", off["reason"])
        if NO_EXT:
            return
        on, _ = self.run_script(ROPEGEN_NO_TORCH_EXT="0")
        self.assertTrue(on["launcher"], on["reason"])
        self.assertEqual((on["q"], on["kc"]), (off["q"], off["kc"]))

    @unittest.skipIf(NO_HOST, NO_HOST or "")
    def test_without_a_compiler_ctypes_alone(self):
        with tempfile.TemporaryDirectory() as d:
            none, _ = self.run_script(CXX=os.path.join(d, "no-such-c++"), ROPEGEN_TORCH_EXT_DIR=d)
            self.assertFalse(none["launcher"])
            self.assertIn("no C++ compiler", none["reason"])
            self.assertEqual(os.listdir(d), [])
        off = self.reference()
        self.assertEqual((none["q"], none["kc"]), (off["q"], off["kc"]), (none, off))

    @unittest.skipIf(NO_HOST or NO_EXT, NO_HOST or NO_EXT or "")
    def test_a_failed_build_is_not_retried(self):
        with tempfile.TemporaryDirectory() as d:
            failed, err = self.run_script(CXX="false", ROPEGEN_TORCH_EXT_DIR=d)
            self.assertFalse(failed["launcher"])
            self.assertIn("build failed", failed["reason"])
            self.assertIn("building the PyTorch fast path failed", err)
            logs = [f for f in os.listdir(d) if f.endswith(".failed.log")]
            self.assertEqual(len(logs), 1, os.listdir(d))
            again, err = self.run_script(CXX="false", ROPEGEN_TORCH_EXT_DIR=d)
            self.assertIn("failed before", again["reason"])
            self.assertNotIn("building the PyTorch fast path failed", err)
            off = self.reference()
            self.assertEqual((failed["q"], failed["kc"]), (off["q"], off["kc"]))

    @unittest.skipIf(NO_HOST or NO_EXT, NO_HOST or NO_EXT or "")
    def test_a_broken_cache_entry_warns_and_falls_back(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, _torch_ext._plan(torch)[1] + ".so"), "wb") as f:
                f.write(b"not a shared object")
            broken, err = self.run_script(ROPEGEN_TORCH_EXT_DIR=d)
            self.assertFalse(broken["launcher"])
            self.assertIn("cannot read this PyTorch's tensor objects", broken["reason"])
            self.assertIn("the PyTorch fast path is off", err)
            with open(os.path.join(d, _torch_ext._plan(torch)[1] + ".failed.log")) as f:
                log = f.read()
            self.assertIn("ImportError", log)
            self.assertIn("its check process ended with exit 1", log)
        off = self.reference()
        self.assertEqual((broken["q"], broken["kc"]), (off["q"], off["kc"]))

    def test_a_crashing_check_process_names_the_signal(self):
        # A PyTorch whose tensor objects are laid out otherwise crashes the check process (as
        # PyTorch 2.11 did on the H100 machine before the check existed), never the caller.
        saved = _torch_ext._CHECK
        try:
            _torch_ext._CHECK = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
            why = _torch_ext._check_in_child("unused.so", 0)
        finally:
            _torch_ext._CHECK = saved
        self.assertIn("its check process ended with signal 11", why)

    @unittest.skipIf(NO_HOST or NO_EXT, NO_HOST or NO_EXT or "")
    def test_the_check_finds_the_layout_and_refuses_the_other(self):
        # PyTorch's tensor object holds a MaybeOwned<Tensor> (Debian's 1.13) or the Tensor
        # itself (2.11 on the H100 machine): one layout reads right in the check process, the
        # other is caught there, and the one recorded beside the module is the one that passed.
        mod = _torch_ext.module()
        self.assertIsNotNone(mod, _torch_ext.reason())
        so = mod.__file__
        whys = [_torch_ext._check_in_child(so, layout) for layout in range(len(_torch_ext.LAYOUTS))]
        passed = [layout for layout, why in enumerate(whys) if why is None]
        self.assertEqual(len(passed), 1, whys)
        for layout, why in enumerate(whys):
            if why is not None:
                self.assertIn(f"cannot read this PyTorch's tensor objects as {_torch_ext.LAYOUTS[layout]} ", why)
        with open(so[:-len(".so")] + ".checked") as f:
            self.assertEqual(int(f.read().split()[0]), passed[0])

    @unittest.skipIf(NO_HOST or NO_EXT, NO_HOST or NO_EXT or "")
    def test_cache_folder_must_be_private(self):
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o777)
            shared, _ = self.run_script(ROPEGEN_TORCH_EXT_DIR=d)
            self.assertFalse(shared["launcher"])
            self.assertIn("writable by other users", shared["reason"])
        with tempfile.TemporaryDirectory() as xdg, tempfile.TemporaryDirectory() as home:
            os.makedirs(os.path.join(xdg, "ropegen", "torch-ext"))
            os.chmod(os.path.join(xdg, "ropegen", "torch-ext"), 0o777)
            # The next folder: ~/.cache/ropegen/torch-ext.
            fallback, _ = self.run_script(drop=("ROPEGEN_TORCH_EXT_DIR",), XDG_CACHE_HOME=xdg, HOME=home)
            self.assertTrue(fallback["launcher"], fallback["reason"])
            built = os.listdir(os.path.join(home, ".cache", "ropegen", "torch-ext"))
            self.assertTrue(any(f.endswith(".so") for f in built), built)

    @unittest.skipIf(NO_HOST or NO_EXT, NO_HOST or NO_EXT or "")
    def test_a_refused_key_turns_it_off(self):
        """add() checks the tensors against what Python read (the object layout it assumes):
        a mismatch is refused and the fast path goes off, calls still launch."""
        k = fast_path(SPEC)
        a = inputs()
        with self.assertRaises(ValueError):
            k._launcher.add(a, tuple(x for t in a.values() for x in (t.shape, t.stride(), t.dtype, t.device)),
                            [t.data_ptr() + 64 for t in a.values()], b"\0" * 8, (), None)
        saved = (_torch_ext._module, _torch_ext._reason, _torch_ext._tried)
        try:
            class Refusing:
                def add(self, *args):
                    raise ValueError("refused for the test")

                def launch(self, arrays, stream=None):
                    return False

            k._launcher, k._fast = Refusing(), Refusing().launch
            b = {n: t.clone() for n, t in a.items()}
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                k(**a)
            self.assertIsNone(k._launcher)
            self.assertTrue(any("refused for the test" in str(x.message) for x in w))
            self.assertIsNone(_torch_ext.module())
            python_path(SPEC)(**b)
            for n in a:
                self.assertTrue(families.same_bytes(a[n], b[n]), n)
        finally:
            _torch_ext._module, _torch_ext._reason, _torch_ext._tried = saved


if __name__ == "__main__":
    unittest.main()
