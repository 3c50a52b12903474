# Prints values of the 2026 variants as the models' published Python code computes them (run
# where torch and transformers are installed; the GPU machine has both): Gemma 4's
# proportional RoPE frequencies from transformers' rope initialiser when it has one, and
# Llama 4's NoPE-layer temperature from the formula in transformers' Llama 4 attention,
# evaluated in torch fp32, and Qwen2-VL's vision-tower 2-D RoPE applied to a fixed q. Prints
# one JSON object at the end. tests/unit/test_codegen.cpp pins the first two,
# tests/unit/test_families.cpp the vision values.
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
# Qwen2-VL's vision tower 2-D RoPE (head_dim 80 = 1280 / 16, theta 10000): transformers'
# VisionRotaryEmbedding(head_dim // 2) gives the frequencies of one coordinate; a token's
# rotary_pos_emb is those of its row followed by those of its column (rot_pos_emb), and
# apply_rotary_pos_emb_vision rotates with cos/sin of [emb, emb] (NeoX halves) in fp32. q is a
# fixed fp32 pattern; the test runs ropegen's positions = vision(sections = [20, 20]) kernel on
# the same q and positions and compares these values.
try:
    from transformers.models.qwen2_vl import modeling_qwen2_vl as qv
    D, T = 80, 4
    hw = [(0, 0), (3, 5), (17, 2), (40, 63)]
    q = torch.tensor([[[((t * 131 + e * 17) % 97) / 48.5 - 1.0 for e in range(D)]] for t in range(T)], dtype=torch.float32)
    # Older releases: VisionRotaryEmbedding(head_dim // 2) gives the angles of one coordinate,
    # concatenated row then column by rot_pos_emb; later ones: Qwen2VLVisionRotaryEmbedding(config)
    # with rope_type "axial" returns cos/sin of [row | column | row | column] for position_ids [N, 2].
    import types
    names = [n for n in dir(qv) if n.endswith("VisionRotaryEmbedding")]
    out["qwen2_vl_vision_class"] = names[0]
    cls = getattr(qv, names[0])
    params = list(inspect.signature(qv.apply_rotary_pos_emb_vision).parameters)
    if "config" in inspect.signature(cls.__init__).parameters:
        cfg = types.SimpleNamespace(rope_parameters={"rope_type": "axial", "rope_theta": 10000.0}, head_dim=D,
                                    embed_dim=1280, num_attention_heads=16)
        rot = cls(cfg)
        # position_ids as its recomposition reads them: [N, 2], (h, w) per patch.
        cos, sin = rot(q, torch.tensor(hw, dtype=torch.int64))
        got, _ = qv.apply_rotary_pos_emb_vision(q, q.clone(), cos, sin)
    else:
        rot = cls(D // 2)
        full = rot(64)  # [64, D / 4]: position x frequency
        emb = torch.cat([torch.cat([full[h], full[w]]) for h, w in hw]).reshape(T, D // 2)
        if params[:2] == ["q", "k"]:
            e2 = torch.cat((emb, emb), dim=-1)
            got, _ = qv.apply_rotary_pos_emb_vision(q, q.clone(), e2.cos(), e2.sin())
        else:
            got = qv.apply_rotary_pos_emb_vision(q.unsqueeze(0), emb).squeeze(0)
    picks = [(t, e) for t in range(T) for e in (0, 1, 19, 20, 21, 39, 40, 41, 59, 60, 79)]
    out["qwen2_vl_vision"] = {"signature": params, "inv_freq": [float(x) for x in rot.inv_freq[:3]],
                              "values": {f"{t},{e}": float(got[t, 0, e]) for t, e in picks}}
except Exception as e:
    out["qwen2_vl_vision_error"] = repr(e)
print(json.dumps(out, indent=1))
