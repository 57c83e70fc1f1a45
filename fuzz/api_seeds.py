#!/usr/bin/env python3
"""Writes fuzz/corpus/api: small programs in the API harness's encoding
(api_program.c), one valid use of each op and a few edge cases, so fuzzing
starts from calls that get past validation. Run it again after changing
the encoding: python3 fuzz/api_seeds.py"""
import os

CREATE, WRAP, FILL, OP, READ, GRAPH, SETTINGS, DESTROY = 0, 1, 2, 3, 5, 6, 7, 8
NULL = 14  # a tensor byte that means NULL
DTYPE = {"f32": 0, "f16": 1, "bf16": 2, "i32": 3}
# fz_i64: bytes 0..10 its edge table (4: INT64_MAX), 11 and up the byte itself
# fz_dim's table, value -> byte
DIM = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 8: 6, 16: 7, 17: 8, 33: 9, -1: 10,
       "min": 11, "2^40": 12, "2^62": 13, "max": 14, 64: 15}
# fz_float: bytes 0..63 the ordinary values, 64.. the edge table
F = {1.0: 0, 0.5: 1, 2.0: 2, 1e-5: 3, 1e-6: 4, -1.0: 6, 1e4: 7, 0.0: 68, "-0": 69,
     3e38: 73, "inf": 74, "-inf": 75, "nan": 76, "-nan": 77, 1e-30: 82, 1e30: 83}
OPS = ["matmul", "softmax", "rms_norm", "lora_linear", "add_rms_norm", "layer_norm",
       "gelu", "silu", "scale", "swiglu", "add", "mul", "rope", "embedding",
       "attention", "attention_packed", "custom_op"]
ARITY = [4, 3, 3, 6, 5, 4, 2, 2, 2, 3, 3, 3, 2, 3, 8, 8, 8]


def create(slot, dtype, *dims, ctx=0):
    return [CREATE, slot, ctx, DTYPE[dtype], len(dims) + 1] + [DIM[d] for d in dims]


def wrap(slot, dtype, offset, *dims, ctx=0):
    return ([WRAP, slot, ctx, DTYPE[dtype], len(dims) + 1] + [DIM[d] for d in dims] +
            [offset & 255, offset >> 8, 1])


def fill(slot, *values):
    out = [FILL, slot, len(values) - 1, 1]
    for v in values:
        out += [0xfe] if v == "-nan-raw" else [len(out) % 200 + 1, F[v] if v in F else v]
    return out


def op(name, tensors, floats=(1.0, 0.0, 1.0), ints=(0, 0, 0, 0), i64=(0, 0), flags=(0, 0),
       null=False, ctx=0):
    k = OPS.index(name)
    t = list(tensors) + [NULL] * (ARITY[k] - len(tensors))
    return ([OP, k, ctx] + t + [F[f] for f in floats] + list(ints) + list(i64) + list(flags) +
            [0 if null else 1])


def read(slot):
    return [READ, slot, 1]


def graph(what, slot=0, ctx=0):
    return [GRAPH, {"begin": 0, "end": 1, "run": 2, "sync": 3}[what], ctx, slot]


SHAPED = 9
SIZES = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 7: 5, 8: 6, 16: 7, 17: 8, 31: 9, 33: 10, 0: 11}


def shaped(name, sizes, dtype="f32", **kw):
    """Operands that fit `name` in slots 0.. (cmd_shaped), then the op on them."""
    k = OPS.index(name)
    return ([SHAPED, k, 0, DTYPE[dtype]] + [SIZES[x] for x in sizes] +
            op(name, list(range(ARITY[k])), **kw)[2:])


VALUES = (0.5, -1.0, 2.0, 1e-6, -1.0, 0.0, 1.0, 2.0)
EDGES = ("inf", "-inf", "nan", "-nan-raw", 3e38, 1e30, "-0", 1e-30)

seeds = {
    "matmul": create(0, "f32", 3, 17) + create(1, "f32", 17, 5) + create(2, "f32", 3, 5) +
    fill(0, *VALUES) + fill(1, *VALUES) + op("matmul", [0, 1, 2]) + read(2),
    "matmul_f16_batched": create(0, "f16", 2, 3, 8) + create(1, "f16", 8, 4) +
    create(2, "f16", 2, 3, 4) + create(3, "f16", 4) + fill(0, *VALUES) + fill(1, *VALUES) +
    op("matmul", [0, 1, 2, 3], floats=(0.5, 0.0, 1.0), ints=(0, 0, 0, 0)) + read(2),
    "softmax_edges": create(0, "f32", 4, 17) + create(1, "f32", 4, 17) + create(2, "f32", 17) +
    fill(0, *EDGES) + fill(2, 0.0, "-inf") + op("softmax", [0, 1, 2], floats=(3e38, 1.0, 1.0),
                                             flags=(1, 0)) + read(1),
    "norms": create(0, "bf16", 3, 16) + create(1, "bf16", 16) + create(2, "bf16", 3, 16) +
    create(3, "bf16", 3, 16) + fill(0, 1e30, -1.0, 2.0) + fill(1, 1.0) +
    op("rms_norm", [0, 1, 2], floats=(1e-6, 1.0, 1.0)) +
    op("layer_norm", [0, 1, NULL, 3], floats=(1e-5, 1.0, 1.0)) +
    op("add_rms_norm", [0, 2, 1, 0, 3], floats=(1e-6, 1.0, 1.0)) + read(3),
    "lora": create(0, "f32", 2, 16) + create(1, "f32", 8, 16) + create(2, "f32", 8) +
    create(3, "f32", 4, 16) + create(4, "f32", 8, 4) + create(5, "f32", 2, 8) +
    fill(0, *VALUES) + fill(1, *VALUES) + fill(3, *VALUES) + fill(4, *VALUES) +
    op("lora_linear", [0, 1, 2, 3, 4, 5], floats=(0.5, 1.0, 1.0)) + read(5),
    "elementwise": create(0, "f16", 5, 17) + create(1, "f16", 5, 17) + create(2, "f16", 17) +
    fill(0, *EDGES) + fill(1, *VALUES) + op("gelu", [0, 1], flags=(1, 0)) +
    op("silu", [0, 0]) + op("swiglu", [0, 1, 1]) + op("add", [0, 2, 1]) + op("mul", [1, 1, 1]) +
    op("scale", [1, 1], floats=(0.5, 1.0, 1.0)) + read(1),
    "rope": create(0, "f32", 1, 4, 3, 8) + create(1, "f32", 1, 4, 3, 8) + fill(0, *VALUES) +
    op("rope", [0, 1], floats=(1e4, 1.0, 1.0), ints=(0, 0, 0, 0), i64=(12, 0)) +
    op("rope", [0, 0], floats=(1e4, 1.0, 1.0), ints=(0, 5, 0, 0), i64=(13, 0), flags=(1, 0)) + read(0),
    "embedding": create(0, "f32", 5, 8) + create(1, "i32", 2, 3) + create(2, "f32", 2, 3, 8) +
    fill(0, *VALUES) + [FILL, 1, 3, 1, 0, 0, 1, 0, 2, 0, 3, 0] +
    op("embedding", [0, 1, 2]) + read(2),
    "attention": create(0, "f32", 1, 4, 2, 8) + create(1, "f32", 1, 5, 1, 8) +
    create(2, "f32", 1, 5, 1, 8) + create(3, "f32", 1, 4, 2, 8) + fill(0, *VALUES) +
    fill(1, *VALUES) + fill(2, *VALUES) +
    op("attention", [0, 1, 2, 3], floats=(1.0, 1.0, 1.0), flags=(1, 0)) + read(3),
    "attention_packed": create(0, "f16", 1, 3, 4, 8) + create(3, "f16", 1, 3, 2, 8) +
    fill(0, *VALUES) + op("attention_packed", [0, NULL, NULL, 3]) + read(3),
    "graph_replay": create(0, "f32", 3, 17) + create(1, "f32", 17) + create(2, "f32", 3, 17) +
    create(3, "f32", 5, 17) + create(4, "i32", 3) + create(5, "f32", 3, 17) +
    fill(0, *VALUES) + fill(1, 1.0) + fill(3, *VALUES) + graph("begin") +
    op("rms_norm", [0, 1, 2], floats=(1e-6, 1.0, 1.0)) + op("embedding", [3, 4, 5]) +
    op("custom_op", [2, 0], ints=(1, 3, 0, 0)) + op("softmax", [2, 2]) + graph("end") +
    [FILL, 4, 0, 1, 9, 0] + graph("run") + graph("run") + graph("sync") + read(2),
    "wrap_aliasing": wrap(0, "f32", 0, 4, 8) + wrap(1, "f32", 16, 4, 8) + wrap(2, "f32", 16, 4, 8) +
    create(3, "f32", 8) + create(4, "f32", 4, 8) + fill(0, *VALUES) + fill(3, 1.0) +
    op("add_rms_norm", [0, 1, 3, 1, 4], floats=(1e-6, 1.0, 1.0)) +
    op("add_rms_norm", [1, 2, 3, 1, 4], floats=(1e-6, 1.0, 1.0)) +
    op("softmax", [0, 1]) + op("gelu", [1, 2]) + wrap(5, "f16", 3, 4) + read(1),
    "empty_huge": create(0, "f32", "2^40", "2^40", 0, 8) + create(1, "f32", 8, 3) +
    create(2, "f32", "2^40", "2^40", 0, 3) + create(3, "f32", -1, 4) +
    create(4, "f32", "max", "max") + op("matmul", [0, 1, 2]) +
    op("rope", [0, 0], floats=(1e4, 1.0, 1.0), i64=(0, 0)) + op("softmax", [0, 0]) +
    op("lora_linear", [0, 1, NULL, 1, 1, 2]) + read(0),
    "bad_calls": create(0, "f32", 4, 4) + create(1, "f16", 4, 4) + fill(0, *VALUES) +
    op("matmul", [0, 1, 0]) + op("softmax", [0, 1], floats=("nan", 1.0, 1.0)) +
    op("rms_norm", [0, 0, 0], floats=(0.0, 1.0, 1.0)) + op("custom_op", [0], ints=(9, 1, 0, 0)) +
    [SETTINGS, 0, 0, 3] + [SETTINGS, 3, 0, 4, 1] + graph("run", 1) + graph("end") +
    [READ, 0, 0],
    "shaped_matmul": shaped("matmul", (3, 17, 5, 1)) + read(2),
    "shaped_lora": shaped("lora_linear", (2, 16, 8, 4), "bf16", floats=(0.5, 1.0, 1.0)) + read(5),
    "shaped_attention": shaped("attention", (5, 7, 1, 2), "f16", flags=(1, 0)) + read(3),
    "shaped_attention_packed": shaped("attention_packed", (4, 1, 1, 3)) + read(3),
    "shaped_embedding": shaped("embedding", (5, 8, 3, 1)) + read(2),
    "shaped_rope": shaped("rope", (4, 4, 1, 3), floats=(1e4, 1.0, 1.0), flags=(1, 0)) + read(1),
    "shaped_add_rms_norm": shaped("add_rms_norm", (3, 33, 1, 1), "bf16", floats=(1e-6, 1.0, 1.0)),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "api")
os.makedirs(here, exist_ok=True)
for name, program in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(bytes(b & 255 for b in program))
print(f"{len(seeds)} seeds in {here}")
