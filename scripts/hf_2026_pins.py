# Prints values of the 2026 variants as the models' published Python code computes them (run
# where torch and transformers are installed; the GPU machine has both): Gemma 4's
# proportional RoPE frequencies from transformers' rope initialiser when it has one, and
# Llama 4's NoPE-layer temperature from the formula in transformers' Llama 4 attention,
# evaluated in torch fp32. tests/unit/test_codegen.cpp pins what this printed.
import inspect, json
import torch
import transformers

out = {"transformers": transformers.__version__, "torch": torch.__version__}
try:
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    out["rope_types"] = sorted(ROPE_INIT_FUNCTIONS)
    if "proportional" in ROPE_INIT_FUNCTIONS:
        from transformers import PretrainedConfig
        cfg = PretrainedConfig()
        cfg.head_dim = 512
        cfg.hidden_size = 512 * 8
        cfg.num_attention_heads = 8
        cfg.max_position_embeddings = 131072
        cfg.rope_theta = 1000000.0
        cfg.partial_rotary_factor = 0.25
        cfg.rope_parameters = {"rope_type": "proportional", "rope_theta": 1000000.0, "partial_rotary_factor": 0.25}
        cfg.rope_scaling = cfg.rope_parameters
        try:
            inv, att = ROPE_INIT_FUNCTIONS["proportional"](cfg, "cpu")
        except TypeError:
            inv, att = ROPE_INIT_FUNCTIONS["proportional"](cfg, "cpu", layer_type=None)
        out["proportional"] = {"n": int(inv.numel()), "inv_freq": {str(j): float(inv[j]) for j in (0, 1, 10, 63, 64, 65, 255)},
                               "attention": float(att)}
except Exception as e:  # report, do not hide
    out["proportional_error"] = repr(e)
try:
    from transformers.models.llama4 import modeling_llama4 as m
    src = inspect.getsource(m)
    out["llama4_temperature_line"] = [l.strip() for l in src.splitlines() if "floor_scale" in l and "log" in l]
except Exception as e:
    out["llama4_error"] = repr(e)
# The formula of that line, in fp32 as the model evaluates it (floor_scale 8192, attn_scale 0.1).
pos = torch.tensor([0, 8190, 8191, 16383, 24575, 100000, 1000000], dtype=torch.int64)
t = torch.log(torch.floor((pos.float() + 1.0) / 8192.0) + 1.0) * 0.1 + 1.0
out["llama4_temperature"] = {str(int(p)): float(v) for p, v in zip(pos, t)}
print(json.dumps(out, indent=1))
