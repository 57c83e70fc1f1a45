#!/usr/bin/env python3
"""Numeric agreement: kiln's outputs (from `kiln bench --dump DIR`) against
a float64 reference computed from the same inputs, and PyTorch's own output
in the case's dtype against the same reference, for scale.

    python3 bench/agree.py --dump DIR --out agree.json [--device cpu|cuda]

The error of a case is max |out - ref| / max |ref|: one number per case that
reads the same for every op and dtype. PyTorch is optional: without it only
kiln's error is written. bench/report.py --agree shows the result.
"""
import argparse
import collections
import json
import os
import sys

import numpy as np

try:
    import torch
    import torch_side  # the PyTorch side's op definitions, so both measure one thing
except ImportError:
    torch = None


def read_tensor(path, dtype, shape):
    """A dumped tensor as float64; bf16 is the top half of an f32."""
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


def reference(op, params, t):
    """The op in float64, written out from its definition in include/kiln.h."""
    if op == "matmul":
        b = t["b"].T if params.get("tb") else t["b"]
        return t["a"] @ b
    x = t["x"]
    if op == "rms_norm":
        eps = params.get("eps", 1e-5)
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * t["weight"]
    x = x * params.get("scale", 1.0)
    if params.get("causal"):
        sq, sk = x.shape[-2], x.shape[-1]
        x = np.where(np.triu(np.ones((sq, sk), dtype=bool), sk - sq + 1), -np.inf, x)
    peak = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(peak), peak, 0))
    total = np.sum(e, axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def torch_output(fields, t, device):
    """PyTorch's result in the case's dtype from the same inputs."""
    case = torch_side.parse_case(fields + ["large"])
    dt = torch_side.DTYPES[case.dtype]
    args = [torch.from_numpy(t[r]).to(dt).to(device) for r in ("a", "b", "x", "weight") if r in t]
    out = torch_side.op_function(case, device)(*args)
    return out.double().cpu().numpy()


def slow_on_cpu(op, dtype, device):
    """PyTorch's 16-bit CPU GEMM without bf16/f16 units takes minutes on the
    large cases: leave PyTorch's column empty there, as torch_side.py does."""
    return (device == "cpu" and op == "matmul" and dtype != "f32"
            and not torch_side.cpu_has_16bit_gemm_units(dtype))


def rel_error(out, ref):
    scale = np.max(np.abs(ref))
    err = np.max(np.abs(out - ref))
    return float(err / scale) if scale > 0 else float(err)


def load_manifest(dump):
    """{case: (fields, {role: path, ...}, {role: shape})} in dump order."""
    cases = collections.OrderedDict()
    with open(os.path.join(dump, "manifest.tsv")) as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            name, op, dtype, shape, params, role, tshape, file = line.rstrip("\n").split("\t")
            entry = cases.setdefault(name, ([name, op, dtype, shape, params], {}, {}))
            entry[1][role] = os.path.join(dump, file)
            entry[2][role] = tuple(int(d) for d in tshape.split(","))
    return cases


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
    for name, (fields, files, shapes) in load_manifest(args.dump).items():
        dtype, op, params = fields[2], fields[1], parse_params(fields[4])
        t = {role: read_tensor(files[role], dtype, shapes[role]) for role in files}
        ref = reference(op, params, t)
        row = {"kiln_rel": rel_error(t["out"], ref), "kiln_max_abs": float(np.max(np.abs(t["out"] - ref)))}
        if torch is not None and not slow_on_cpu(op, dtype, args.device):
            row["torch_rel"] = rel_error(torch_output(fields, t, args.device), ref)
        result["cases"][name] = row
        print(f"{name:<32} kiln {row['kiln_rel']:.2e}"
              + (f"  torch {row['torch_rel']:.2e}" if "torch_rel" in row else ""), flush=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
