#!/usr/bin/env python3
"""Writes the reference fixtures that the Swift tests compare against (Tests/Fixtures/*.safetensors).

Runs offline with the pinned packages of python/requirements-fixtures.txt; every value comes from a fixed seed,
so running it again reproduces the files byte for byte.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # fixture_io beside this script
from fixture_io import canonical  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")




def save(name, tensors, metadata=None):
    meta = {"torch": torch.__version__.split("+")[0], "source": "make_fixtures.py"}
    meta.update(metadata or {})
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, name), metadata=meta)
    canonical(os.path.join(OUT, name))
    print(f"wrote {name}: {len(tensors)} tensors")


def python_dtypes():
    """One tensor of each dtype, as Python's safetensors writes them."""
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4) / 8
    ints = torch.arange(-3, 3)
    t = {
        "f32": base.float(), "f64": base, "f16": base.half(), "bf16": base.bfloat16(),
        "i64": ints, "i32": ints.int().reshape(2, 3), "i16": ints.short(), "i8": ints.char(),
        "u8": torch.arange(6, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True, True, False, False]),
    }
    path = os.path.join(OUT, "python_dtypes.safetensors")
    save_file(t, path, metadata={"format": "pt", "source": "make_fixtures.py"})
    canonical(path)
    print("wrote python_dtypes.safetensors")


def layers():
    """Reference outputs of the ops the models rely on, on random inputs."""
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g)
    t = {}
    x = r(2, 5, 8); w = r(8); b = r(8)
    t.update(ln_x=x, ln_w=w, ln_b=b, ln_out=F.layer_norm(x, (8,), w, b, eps=1e-6),
             ln_noaffine_out=F.layer_norm(x, (8,), eps=1e-6))
    x = r(2, 8, 4, 4); w = r(8); b = r(8)
    t.update(gn_x=x, gn_w=w, gn_b=b, gn_out=F.group_norm(x, 4, w, b, eps=1e-6))
    x = r(2, 3, 8, 8); w = r(5, 3, 3, 3); b = r(5)
    t.update(conv_x=x, conv_w=w, conv_b=b, conv_out=F.conv2d(x, w, b, stride=2, padding=1))
    w = r(5, 2, 3, 3); b = r(4)
    t.update(convt_w=r(5, 2, 3, 3), convt_b=r(4))
    xt = r(2, 5, 4, 4)
    t.update(convt_x=xt, convt_out=F.conv_transpose2d(xt, t["convt_w"].repeat(1, 2, 1, 1), t["convt_b"], stride=2,
                                                      padding=1, output_padding=1))
    q = r(2, 3, 5, 8); k = r(2, 3, 7, 8); v = r(2, 3, 7, 8)
    keep = torch.rand(2, 1, 5, 7, generator=g) > 0.3
    keep[..., 0] = True  # every query sees at least one key
    additive = r(2, 1, 5, 7)
    t.update(sdpa_q=q, sdpa_k=k, sdpa_v=v, sdpa_keep=keep, sdpa_add=additive,
             sdpa_out=F.scaled_dot_product_attention(q, k, v),
             sdpa_bool_out=F.scaled_dot_product_attention(q, k, v, attn_mask=keep),
             sdpa_add_out=F.scaled_dot_product_attention(q, k, v, attn_mask=additive),
             sdpa_scale_out=F.scaled_dot_product_attention(q, k, v, scale=0.3))
    x = r(4, 6) * 3
    t.update(act_x=x, gelu_out=F.gelu(x), gelu_tanh_out=F.gelu(x, approximate="tanh"), silu_out=F.silu(x),
             softmax_out=F.softmax(x, dim=-1), log_softmax_out=F.log_softmax(x, dim=-1),
             # transformers' QuickGELUActivation (CLIP's hidden_act "quick_gelu"): x * sigmoid(1.702 * x).
             quick_gelu_out=x * torch.sigmoid(1.702 * x))
    x = r(1, 2, 3, 5)
    t.update(interp_x=x, interp_nearest2=F.interpolate(x, scale_factor=2, mode="nearest"),
             interp_bilinear2=F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
             interp_bilinear_size=F.interpolate(x, size=(4, 7), mode="bilinear", align_corners=False),
             interp_bilinear_ac=F.interpolate(x, size=(4, 7), mode="bilinear", align_corners=True))
    logits = r(6, 5); target = torch.tensor([0, 4, 2, 2, 1, 3])
    t.update(ce_logits=logits, ce_target=target, ce_out=F.cross_entropy(logits, target),
             ce_smooth_out=F.cross_entropy(logits, target, label_smoothing=0.1))
    save("layers.safetensors", t)


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn1 = Attention(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        self.scale_shift_table = nn.Parameter(torch.randn(6, dim) / dim**0.5)


class Net(nn.Module):
    """A nested module with the naming patterns of diffusers models."""

    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=2, stride=2)
        self.register_buffer("pos_embed", torch.arange(dim, dtype=torch.float32))
        self.register_buffer("scratch", torch.zeros(1), persistent=False)
        self.transformer_blocks = nn.ModuleList([Block(dim) for _ in range(2)])
        self.norm_out = nn.GroupNorm(2, dim)
        self.linear_1 = nn.Linear(dim, dim)
        self.emb = nn.Embedding(10, dim)


def named_module():
    torch.manual_seed(3)
    net = Net()
    meta = {"named_parameters": json.dumps([k for k, _ in net.named_parameters()]),
            "state_dict": json.dumps(list(net.state_dict().keys()))}
    save("named_module.safetensors", dict(net.state_dict()), meta)


def adamw():
    """torch.optim.AdamW with weight decay and gradient clipping: parameters after each of 5 steps."""
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    x = torch.randn(16, 4); y = torch.randn(16, 2)
    t = {"x": x, "y": y}
    for k, v in model.state_dict().items():
        t[f"init.{k}"] = v.clone()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    losses, norms = [], []
    for step in range(1, 6):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)))
        opt.step()
        losses.append(loss.item())
        for k, v in model.state_dict().items():
            t[f"step{step}.{k}"] = v.clone()
    t["losses"] = torch.tensor(losses, dtype=torch.float64)
    t["grad_norms"] = torch.tensor(norms, dtype=torch.float64)
    save("adamw.safetensors", t, {"lr": "0.05", "betas": "0.9,0.99", "weight_decay": "0.1", "max_norm": "0.5"})


def mlp():
    """The 2-layer MLP of the Swift test, trained from the same seed: the losses must match to 1e-5."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    x = torch.randn(64, 8)
    y = torch.sin(2 * x[:, :1]) + x[:, 1:2] * x[:, 2:3]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    save("mlp.safetensors", {"losses": torch.tensor(losses, dtype=torch.float64), "x": x, "y": y})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    python_dtypes()
    layers()
    named_module()
    adamw()
    mlp()


if __name__ == "__main__":
    sys.exit(main())
