# Prints llama.cpp's GGML_ROPE_TYPE_VISION rotation (ggml/src/ggml-cpu/ops.cpp of the
# ggml-org/llama.cpp repository: ggml_compute_forward_rope_flt with mode VISION asserts
# n_dims == ne0 / 2 and takes theta_scale = powf(freq_base, -2 / n_dims); ggml_mrope_cache_init
# walks the pairs i0 / 2 of [0, ne0 / 2), sector = (i0 / 2) % (s0 + s1 + s2 + s3), restarts
# each section's angle at its first sector (indep_sects) from that section's position row,
# and multiplies every angle by theta_scale after each pair, in float32; cos and sin are
# cosf / sinf of the float32 angle; rotate_pairs(ne0, n_dims) turns element j with
# j + n_dims). clip.cpp's Qwen2-VL tower calls it with sections [d/4, d/4, d/4, d/4] and
# positions [row, column, row, column]. Evaluated here with numpy in float32 on a fixed q;
# the unit test "pinned: llama.cpp VISION rotation" (tests/unit/test_families.cpp) compares
# ropegen's positions = vision(sections = [20, 20]) kernel with these values.
import json
import math
import numpy as np

f32 = np.float32
d, base = 80, 10000.0
n_dims = d // 2
sections = [d // 4] * 4
hw = [(0, 0), (3, 5), (17, 2), (40, 63)]
theta_scale = f32(math.pow(base, -2.0 / n_dims))  # powf: the correctly rounded value
out = []
for t, (row, col) in enumerate(hw):
    q = [f32(((131 * t + 17 * e) % 97) / 48.5 - 1.0) for e in range(d)]
    bases = [f32(row), f32(col), f32(row), f32(col)]
    theta = list(bases)
    starts = [0, sections[0], sections[0] + sections[1], sections[0] + sections[1] + sections[2]]
    cs = []
    for j in range(d // 2):
        sector = j % sum(sections)
        for s in range(4):
            if sector == starts[s]:
                theta[s] = bases[s]
        s = 0 if sector < starts[1] else 1 if sector < starts[2] else 2 if sector < starts[3] else 3
        a = theta[s]
        cs.append((f32(math.cos(a)), f32(math.sin(a))))
        theta = [f32(x * theta_scale) for x in theta]
    y = list(q)
    for j in range(n_dims):
        c, s = cs[j]
        x0, x1 = q[j], q[j + n_dims]
        y[j] = f32(f32(x0 * c) - f32(x1 * s))
        y[j + n_dims] = f32(f32(x0 * s) + f32(x1 * c))
    out.append(y)
picks = [(t, e) for t in range(4) for e in (0, 1, 19, 20, 21, 39, 40, 41, 59, 60, 79)]
print(json.dumps({"numpy": np.__version__, "head_dim": d, "sections": sections,
                  "values": {f"{t},{e}": float(out[t][e]) for t, e in picks}}, indent=1))
