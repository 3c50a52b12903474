# Prints Wan 2.1's 3-D RoPE (wan/modules/model.py of the Wan-Video/Wan2.1 repository:
# rope_params builds, per axis of dim_a channels, angles pos * theta^(-arange(0, dim_a, 2) /
# dim_a) in float64 for the frame axis (dim_a = d - 4 * (d // 6)) and the height and width
# axes (2 * (d // 6) each); rope_apply splits the d / 2 complex channel pairs into
# [c - 2 * (c // 3), c // 3, c // 3], gives token (f, h, w) of the grid its frame's, row's and
# column's angles and multiplies the head viewed as complex numbers (adjacent channel pairs)
# in float64). The formulas are evaluated here with torch on a fixed q; the unit test
# "pinned: Wan 2.1 3-D grid RoPE" (tests/unit/test_families.cpp) compares ropegen's
# positions = grid(sections = [22, 21, 21]) kernel with these values. Needs only torch.
import json
import torch

d, theta, F, H, W = 128, 10000.0, 2, 3, 5


def rope_params(max_seq_len, dim):
    freqs = torch.outer(torch.arange(max_seq_len), 1.0 / torch.pow(theta, torch.arange(0, dim, 2).to(torch.float64).div(dim)))
    return torch.polar(torch.ones_like(freqs), freqs)


freqs = torch.cat([rope_params(64, d - 4 * (d // 6)), rope_params(64, 2 * (d // 6)), rope_params(64, 2 * (d // 6))], dim=1)
c = d // 2
parts = freqs.split([c - 2 * (c // 3), c // 3, c // 3], dim=1)
T = F * H * W
q = torch.tensor([[((131 * t + 17 * e) % 97) / 48.5 - 1.0 for e in range(d)] for t in range(T)], dtype=torch.float32)
x = torch.view_as_complex(q.to(torch.float64).reshape(T, 1, -1, 2))
f_i = torch.cat([parts[0][:F].view(F, 1, 1, -1).expand(F, H, W, -1),
                 parts[1][:H].view(1, H, 1, -1).expand(F, H, W, -1),
                 parts[2][:W].view(1, 1, W, -1).expand(F, H, W, -1)], dim=-1).reshape(T, 1, -1)
out = torch.view_as_real(x * f_i).flatten(2)[:, 0, :]
picks = [(t, e) for t in (0, 7, 16, 29) for e in (0, 1, 42, 43, 44, 45, 86, 87, 126, 127)]
print(json.dumps({"torch": torch.__version__, "grid": [F, H, W], "sections": [p.shape[1] for p in parts],
                  "values": {f"{t},{e}": float(out[t, e]) for t, e in picks}}, indent=1))
