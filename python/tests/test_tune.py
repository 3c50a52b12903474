"""Context.tune (ropegen_tune) on the host: the winners kept in the cache directory, kernels
asked for afterwards holding them, and the errors."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paths  # noqa: E402,F401  (the package and library from a source checkout)
import ropegen  # noqa: E402
import host  # noqa: E402

SPEC = "op=rope_kv_append head_dim=32 q_heads=4 kv_heads=2 dtype=f32"


NO_HOST = host.compiler_missing()


@unittest.skipIf(NO_HOST, NO_HOST or "")
class Tune(unittest.TestCase):
    def test_tune_keeps_winners_and_kernels_use_them(self):
        with tempfile.TemporaryDirectory() as d:
            ctx = ropegen.Context("host", cache_dir=d)
            before = ctx.kernel(SPEC)
            self.assertEqual(before.description["plan_source"], "codegen")
            res = ctx.tune(SPEC, buckets=[1, 64], reps=1)
            self.assertEqual([r["tokens"] for r in res], [1, 64])
            for r in res:
                self.assertGreater(r["candidates"], 1)
                self.assertGreater(r["best_us"], 0)
                self.assertLessEqual(r["best_us"], r["default_us"])
                self.assertTrue(all(isinstance(x, int) and x >= 1 for x in r["best_plan"] + r["default_plan"]))
            self.assertEqual(len([f for f in os.listdir(d) if f.endswith(".rgtune")]), 1)
            for c in (ctx, ropegen.Context("host", cache_dir=d)):  # this context, and a new one
                k = c.kernel(SPEC)
                self.assertIsNot(k, before)
                desc = k.description
                self.assertEqual(desc["plan_source"], "tuned")
                plans = desc["tuned"]["plans"]
                self.assertEqual([p["bucket"] for p in plans], [1, 64])
                self.assertEqual(plans[0]["max_tokens"], 8)  # the geometric midpoint of 1 and 64
                self.assertIsNone(plans[1]["max_tokens"])
                for p, r in zip(plans, res):
                    self.assertEqual((p["plan"]["tokens_per_block"], p["plan"]["head_groups"]), r["best_plan"])

    def test_tune_errors(self):
        ctx = ropegen.Context("host", cache_dir="")
        with self.assertRaises(ropegen.Error) as e:
            ctx.tune(SPEC, buckets=[32, 1], reps=1)
        self.assertIn("buckets must increase", str(e.exception))
        with self.assertRaises(ValueError):
            ctx.tune(SPEC, plans="most")
        with self.assertRaises(ropegen.Error) as e:
            ctx.tune(SPEC, buckets=[1], reps=1)  # nowhere to keep the winners
        self.assertIn("no user cache directory", str(e.exception))
        res = ctx.tune(SPEC, buckets=[1], reps=1, plans="quick", store=False)
        self.assertEqual(len(res), 1)


if __name__ == "__main__":
    unittest.main()
