# Prints inv_freq at a few indices and the attention factor of each scaling family, as
# Hugging Face transformers computes them (run where transformers is installed).
import json, sys
import transformers
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
cases = {
  "linear": dict(theta=10000.0, max_pos=4096, rs={"rope_type": "linear", "factor": 4.0}),
  "ntk": dict(theta=10000.0, max_pos=4096, rs={"rope_type": "dynamic", "factor": 2.0}),  # dynamic at seq_len = max: static NTK
  "yarn": dict(theta=1000000.0, max_pos=131072, rs={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}),
  "yarn_mscale": dict(theta=10000.0, max_pos=163840, rs={"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.8}),
  "llama3": dict(theta=500000.0, max_pos=131072, rs={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
}
out = {"transformers": transformers.__version__}
idx = [0, 8, 16, 20, 24, 28, 32, 40, 48, 56, 63]
for name, c in cases.items():
    try:
        kw = dict(hidden_size=4096, num_attention_heads=32, head_dim=128, max_position_embeddings=c["max_pos"], rope_theta=c["theta"])
        try:
            cfg = LlamaConfig(rope_scaling=c["rs"], **kw)
        except Exception:
            cfg = LlamaConfig(**kw)
        if hasattr(cfg, "rope_parameters") and isinstance(getattr(cfg, "rope_parameters"), dict):
            rp = dict(c["rs"]); rp["rope_theta"] = c["theta"]; cfg.rope_parameters = rp
        cfg.rope_scaling = c["rs"]
        fn = ROPE_INIT_FUNCTIONS[c["rs"]["rope_type"]]
        kwargs = {}
        if c["rs"]["rope_type"] == "dynamic": kwargs["seq_len"] = 2 * c["max_pos"]
        try:
            inv, att = fn(cfg, "cpu", **kwargs)
        except TypeError:
            inv, att = fn(cfg, "cpu")
        out[name] = {"inv_freq": {str(j): float(inv[j]) for j in idx}, "attention": float(att), "dtype": str(inv.dtype)}
    except Exception as e:
        out[name] = {"error": repr(e)}
print(json.dumps(out, indent=1))
