#!/usr/bin/env python3
"""Pinned bytes of DeepSeek-V3.2's fp8_ds_mla record, computed from vLLM's formula with
PyTorch's own float8_e4m3fn conversion (PyTorch 2.1+; run on the GPU machine): for each tile
of 128 kv_c values, s = max(amax / 448, FLT_MIN) in fp32, codes e4m3(x / s) (IEEE division,
round to nearest even), then the 4 fp32 scales. The kv_c row is 512 bf16 values given by
their bits: an integer generator, with tile 0 holding amax 13 and values whose x / s and
x * (1 / s) round to different codes, tile 2 zeros (and -0.0), tile 3 amax 1000 with values
that underflow. Prints the input bits and bytes [0, 528) of the record as C++ initializers
for tests/unit/test_families.cpp ("pinned: DeepSeek-V3.2 fp8_ds_mla record")."""
import torch


def kvc_bits():
    bits, st = [], 12345
    for _ in range(512):
        st = (st * 1103515245 + 12345) & 0x7FFFFFFF
        r = st >> 16
        bits.append(((r & 1) << 15) | (0x3800 + r % 0x0900))  # |x| in about 2^-15 .. 2^3
    def bf(v):
        return int(torch.tensor([v], dtype=torch.bfloat16).view(torch.int16).item()) & 0xFFFF
    # Tile 0: amax 13 and bf16 values below it whose two quotients round apart.
    bits[0] = bf(13.0)
    s = torch.tensor(13.0, dtype=torch.float32) / 448.0
    allx = torch.arange(0x3000, 0x4150, dtype=torch.int32).to(torch.int16).view(torch.bfloat16).float()
    d = (allx / s).to(torch.float8_e4m3fn).view(torch.uint8)
    m = (allx * (1.0 / s)).to(torch.float8_e4m3fn).view(torch.uint8)
    apart = torch.nonzero(d != m).flatten().tolist()[:15]
    for i, j in enumerate(apart):
        bits[1 + i] = bf(float(allx[j]))
        bits[17 + i] = bf(-float(allx[j]))
    for i in range(256, 384):  # tile 2: zeros and negative zeros
        bits[i] = 0x8000 if i % 3 == 0 else 0
    bits[384] = bf(1000.0)  # tile 3: amax 1000; tiny values underflow to code 0
    for i in range(385, 395):
        bits[i] = bf(2.0 ** -(14 + i - 385))
    return bits, len(apart)


def main():
    bits, n_apart = kvc_bits()
    x = torch.tensor(bits, dtype=torch.int32).to(torch.int16).view(torch.bfloat16).float().view(4, 128)
    amax = x.abs().amax(dim=1)
    s = torch.clamp(amax / 448.0, min=torch.finfo(torch.float32).tiny)
    codes = (x / s[:, None]).to(torch.float8_e4m3fn).view(torch.uint8).flatten().tolist()
    scale_bytes = s.view(torch.uint8).tolist()  # little-endian fp32
    print(f"// PyTorch {torch.__version__}; tile 0 holds {n_apart} values whose x / s and x * (1 / s) differ")
    print("const std::uint16_t kvc_bits[512] = {" + ", ".join(f"0x{b:04x}" for b in bits) + "};")
    rec = codes + scale_bytes
    print("const unsigned char record[528] = {" + ", ".join(f"0x{b:02x}" for b in rec) + "};")


if __name__ == "__main__":
    main()
