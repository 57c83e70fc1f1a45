#!/usr/bin/env python3
"""Numeric agreement: kiln's outputs (from `kiln bench --dump DIR`) against
a float64 reference computed from the same inputs, and PyTorch's own output
in the case's dtype against the same reference, for scale.

    python3 bench/agree.py --dump DIR --out agree.json [--device cpu|cuda]

The error of a case is max |out - ref| / max |ref|, the largest over the
op's outputs (add_rms_norm has two): one number per case that reads the
same for every op and dtype. PyTorch is optional: without it only
kiln's error is written. bench/report.py --agree shows the result.
"""
import argparse
import collections
import json
import math
import os
import sys

import numpy as np

try:
    import torch
    import torch_cases  # the PyTorch side's op definitions, so both measure one thing
    import torch_side
except ImportError:
    torch = None


def read_tensor(path, dtype, shape):
    """A dumped tensor as float64 (i32 ids as int64); bf16 is the top half of an f32."""
    if dtype == "i32":
        return np.fromfile(path, dtype="<i4").astype(np.int64).reshape(shape)
    if dtype == "bf16":
        words = np.fromfile(path, dtype="<u2").astype(np.uint32) << 16
        values = words.view(np.float32)
    else:
        values = np.fromfile(path, dtype="<f4" if dtype == "f32" else "<f2")
    return values.astype(np.float64).reshape(shape)


def parse_params(text):
    if text == "-":
        return {}
    return {k: float(v) for k, _, v in (item.partition("=") for item in text.split(","))}


def erf(x):
    """erf in float64: scipy or torch when there, else math.erf over the
    distinct values (few for 16-bit inputs)."""
    try:
        from scipy.special import erf as scipy_erf
        return scipy_erf(x)
    except ImportError:
        pass
    if torch is not None:
        return torch.special.erf(torch.from_numpy(x)).numpy()
    values, where = np.unique(x, return_inverse=True)
    return np.frompyfunc(math.erf, 1, 1)(values).astype(np.float64)[where].reshape(x.shape)


def rms_norm(x, weight, p):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + p.get("eps", 1e-5)) * weight


def layer_norm(t, p):
    x = t["x"]
    centred = x - np.mean(x, axis=-1, keepdims=True)
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + p.get("eps", 1e-5)) * t["weight"] + t["bias"]


def softmax(t, p):
    x = t["x"] * p.get("scale", 1.0)
    if p.get("causal"):
        sq, sk = x.shape[-2], x.shape[-1]
        x = np.where(np.triu(np.ones((sq, sk), dtype=bool), sk - sq + 1), -np.inf, x)
    peak = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(peak), peak, 0))
    total = np.sum(e, axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def gelu(t, p):
    x = t["x"]
    if p.get("tanh"):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def silu(x):
    return x / (1 + np.exp(-x))


def rope(t, p):
    """Rotate-half with kiln.h's precision: f32 inv_freq and f32 angle
    (position * inv_freq), then cos and sin of that angle in float64."""
    x = t["x"]
    s, d = x.shape[-2], x.shape[-1]
    f32 = np.float32
    inv_freq = (1.0 / np.power(np.float64(f32(p.get("base", 10000.0))),
                               np.arange(0, d, 2, dtype=np.float64) / d)).astype(f32)
    angle = (np.arange(s, dtype=f32)[:, None] * inv_freq[None, :]).astype(np.float64)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    cos, sin = np.cos(angle), np.sin(angle)
    return np.concatenate((x1 * cos - x2 * sin, x2 * cos + x1 * sin), axis=-1)


# Attention references past this many multiply-adds (4 * pairs * H * D) are
# computed on a sample of query rows (the first, the last, and evenly spaced
# ones between, SAMPLE_ROWS in all per sequence); rows left out are NaN and
# not compared.
FULL_FLOPS, SAMPLE_ROWS = 2e9, 96


def attention_rows(lq, sample):
    if not sample or lq <= SAMPLE_ROWS:
        return np.arange(lq)
    third = SAMPLE_ROWS // 3
    middle = np.linspace(third, lq - third - 1, third).astype(np.int64)
    return np.unique(np.concatenate((np.arange(third), middle, np.arange(lq - third, lq))))


def attention_sequence(q, k, v, scale, causal, out, sample):
    """One sequence: q [lq, H, D], k and v [lk, Hkv, D]; writes the rows it
    computes into out [lq, H, D]. Causal is bottom-right aligned (kiln.h)."""
    lq, h, d = q.shape
    lk, hkv = k.shape[0], k.shape[1]
    rows = attention_rows(lq, sample)
    if lk == 0 or len(rows) == 0:
        out[rows] = 0.0
        return
    group = h // hkv
    kk, vv = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)  # [lk, H, D]
    logits = scale * np.einsum("rhd,khd->hrk", q[rows], kk)
    if causal:
        hidden = np.arange(lk)[None, :] > (rows[:, None] + lk - lq)
        logits = np.where(hidden[None], -np.inf, logits)
    peak = np.max(logits, axis=-1, keepdims=True)
    e = np.exp(logits - np.where(np.isfinite(peak), peak, 0))
    total = np.sum(e, axis=-1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    out[rows] = np.einsum("hrk,khd->rhd", p, vv)


def attention(t, p, varlen=False):
    """softmax(scale q k^T) v per sequence and head, scale 1/sqrt(D), from
    the dumped q, k, v (and cu_seqlens for attention_varlen)."""
    q, k, v = t["q"], t["k"], t["v"]
    d = q.shape[-1]
    scale, causal = 1.0 / math.sqrt(d), bool(p.get("causal"))
    out = np.full(q.shape, np.nan)
    if varlen:
        cu = t["cu_seqlens"].astype(np.int64)
        seqs = [(slice(cu[b], cu[b + 1]), slice(cu[b], cu[b + 1])) for b in range(len(cu) - 1)]
    else:
        seqs = [(b, b) for b in range(q.shape[0])]
    flops = 0
    for sq, sk in seqs:
        flops += 4 * q[sq].shape[0] * k[sk].shape[0] * q.shape[-2] * d
    sample = flops > FULL_FLOPS
    for sq, sk in seqs:
        attention_sequence(q[sq], k[sk], v[sk], scale, causal, out[sq], sample)
    return {"out": out}


# The op in float64, written out from its definition in include/kiln.h:
# a function of the dumped tensors and params giving {output role: value}.
REFERENCE = {
    "matmul": lambda t, p: {"out": t["a"] @ (t["b"].T if p.get("tb") else t["b"])},
    "softmax": lambda t, p: {"out": softmax(t, p)},
    "rms_norm": lambda t, p: {"out": rms_norm(t["x"], t["weight"], p)},
    "lora_linear": lambda t, p: {"out": t["x"] @ t["w"].T
                                 + p.get("scale", 1.0) * (t["x"] @ t["a"].T) @ t["b"].T},
    # out is the norm of h as stored (kiln.h), so of the dumped h_out
    "add_rms_norm": lambda t, p: {"h_out": t["x"] + t["residual"],
                                  "out": rms_norm(t["h_out"], t["weight"], p)},
    "layer_norm": lambda t, p: {"out": layer_norm(t, p)},
    "gelu": lambda t, p: {"out": gelu(t, p)},
    "silu": lambda t, p: {"out": silu(t["x"])},
    "swiglu": lambda t, p: {"out": silu(t["gate"]) * t["up"]},
    "rope": lambda t, p: {"out": rope(t, p)},
    "embedding": lambda t, p: {"out": t["table"][t["ids"]]},
    "attention": lambda t, p: attention(t, p),
    "attention_decode": lambda t, p: attention(t, p),
    "attention_varlen": lambda t, p: attention(t, p, varlen=True),
}


def torch_output(fields, t, device):
    """PyTorch's outputs in the case's dtype from the same inputs, by role."""
    case = torch_cases.parse_case(fields + ["large"])
    roles = torch_cases.OPS[case.op].roles
    args = [torch.from_numpy(t[r.name]).to(case.role_dtype(r)).to(device) for r in roles if not r.out]
    out = torch_cases.op_function(case, device)(*args)
    outs = out if isinstance(out, tuple) else (out,)
    return {r.name: o.double().cpu().numpy() for r, o in zip([r for r in roles if r.out], outs)}


def slow_on_cpu(op, dtype, device):
    """PyTorch's 16-bit CPU GEMM without bf16/f16 units takes minutes on the
    large cases: leave PyTorch's column empty there, as torch_side.py does."""
    return (device == "cpu" and bool(torch_cases.OPS[op].flop_terms) and dtype != "f32"
            and not torch_side.cpu_has_16bit_gemm_units(dtype))


def compared(out, ref):
    """The elements a reference computed (a sampled attention reference
    leaves NaN where it did not); a NaN in out there stays and shows."""
    kept = ~np.isnan(ref)
    return out[kept], ref[kept]


def rel_error(out, ref):
    out, ref = compared(out, ref)
    if ref.size == 0:
        return 0.0
    scale = np.max(np.abs(ref))
    err = np.max(np.abs(out - ref))
    return float(err / scale) if scale > 0 else float(err)


def load_manifest(dump):
    """{case: (fields, {role: path}, {role: shape}, {role: dtype})} in dump order."""
    cases = collections.OrderedDict()
    with open(os.path.join(dump, "manifest.tsv")) as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            name, op, dtype, shape, params, role, tdtype, tshape, file = line.rstrip("\n").split("\t")
            entry = cases.setdefault(name, ([name, op, dtype, shape, params], {}, {}, {}))
            entry[1][role] = os.path.join(dump, file)
            entry[2][role] = tuple(int(d) for d in tshape.split(","))
            entry[3][role] = tdtype
    return cases


def worst(outs, ref):
    """The largest error over the op's outputs: (relative, absolute)."""
    def abs_error(out, ref):
        out, ref = compared(out, ref)
        return float(np.max(np.abs(out - ref))) if ref.size else 0.0
    return (max(rel_error(outs[r], ref[r]) for r in ref),
            max(abs_error(outs[r], ref[r]) for r in ref))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dump", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = ap.parse_args()
    if torch is not None:
        torch_side.configure(args.device)
    result = {"reference": "float64", "metric": "max|out-ref| / max|ref|",
              "torch": torch.__version__ if torch is not None else None, "cases": {}}
    for name, (fields, files, shapes, dtypes) in load_manifest(args.dump).items():
        dtype, op, params = fields[2], fields[1], parse_params(fields[4])
        t = {role: read_tensor(files[role], dtypes[role], shapes[role]) for role in files}
        ref = REFERENCE[op](t, params)
        row = dict(zip(("kiln_rel", "kiln_max_abs"), worst(t, ref)))
        if torch is not None and not slow_on_cpu(op, dtype, args.device):
            row["torch_rel"] = worst(torch_output(fields, t, args.device), ref)[0]
        result["cases"][name] = row
        print(f"{name:<32} kiln {row['kiln_rel']:.2e}"
              + (f"  torch {row['torch_rel']:.2e}" if "torch_rel" in row else ""), flush=True)
        # Written after every case, so a run cut off by its time box keeps
        # what it checked.
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
