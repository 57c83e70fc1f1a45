"""The case list, bench/cases.tsv, and what each case computes in PyTorch:
the same op table as tools/ops.c (roles, shapes, parameters, bytes and
flops), plus the PyTorch function a user would write for each op. Used by
bench/torch_side.py (timing) and bench/agree.py (outputs).
"""
import dataclasses
import math
import os
import sys

import torch
import torch.nn.functional as F

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
CLASSES = ("small", "large", "gpu")
# tools/ops.c's param_specs: key -> (kind, default); default None: required.
PARAMS = {"causal": ("flag", 0.0), "scale": ("positive", 1.0), "tb": ("flag", 0.0),
          "eps": ("positive", 1e-5), "rank": ("count", None), "tanh": ("flag", 0.0),
          "base": ("positive", 10000.0),
          # attention: 0 (not given) means S and H
          "sk": ("count", 0.0), "hkv": ("count", 0.0), "minlen": ("count", 1.0)}


# ---------------------------------------------------------------- the cases

@dataclasses.dataclass
class Case:
    name: str
    op: str
    dtype: str
    shape: tuple
    params_text: str
    params: dict
    cls: str

    def seq_len(self, b):
        """tools/geometry.c's case_seq_len: S, or attention_varlen's
        minlen + (7919 b + 13) mod (S - minlen + 1)."""
        s = self.shape[1]
        if self.op != "attention_varlen":
            return s
        lo = min(max(int(self.params["minlen"]), 1), s)
        return lo + (b * 7919 + 13) % (s - lo + 1)

    def keys(self):
        """Keys per sequence of a padded attention case."""
        return int(self.params.get("sk") or self.shape[1])

    def kv_heads(self):
        return int(self.params.get("hkv") or self.shape[2])

    def attention_dim(self, letter):
        """'k' Sk, 'h' Hkv, '+' B + 1, 'T' all query tokens, 'P' the
        (query, key) pairs attended per head (geometry.c's attention_dim)."""
        batch, causal = self.shape[0], bool(self.params.get("causal"))
        varlen = self.op == "attention_varlen"
        if letter == "k":
            return self.shape[1] if varlen else self.keys()
        if letter == "h":
            return self.kv_heads()
        if letter == "+":
            return batch + 1
        if letter == "T":
            return sum(self.seq_len(b) for b in range(batch))
        total = 0
        for b in range(batch):
            lq = self.seq_len(b)
            lk = lq if varlen else self.keys()
            total += sum(min(max(i + lk - lq + 1, 0), lk) for i in range(lq)) if causal else lq * lk
        return total

    def dims(self, letters):
        """tools/geometry.c's eval_dims: '0'..'3' shape[i], 'L' the last dim,
        'r' the rank, '*' the whole shape, and attention's letters."""
        out = []
        for letter in letters:
            if letter in "kh+TP":
                out.append(self.attention_dim(letter))
            elif letter == "*":
                out += self.shape
            elif letter == "L":
                out.append(self.shape[-1])
            elif letter == "r":
                out.append(int(self.params["rank"]))
            else:
                out.append(self.shape[int(letter)])
        return tuple(out)

    def role_shape(self, role):
        return self.dims(role.dims_tb if role.dims_tb and self.params.get("tb") else role.dims)

    def role_dtype(self, role):
        return torch.int32 if role.fill in ("ids", "cu") else DTYPES[self.dtype]

    def bytes(self):
        """Each input read and each output written once, as tools/geometry.c
        counts them (embedding: only the table rows gathered)."""
        total = 0
        for role in OPS[self.op].roles:
            shape = self.dims(role.counted) if role.counted else self.role_shape(role)
            itemsize = 4 if role.fill in ("ids", "cu") else torch.finfo(DTYPES[self.dtype]).bits // 8
            total += math.prod(shape) * itemsize
        return total

    def flops(self):
        return sum(2 * math.prod(self.dims(t)) for t in OPS[self.op].flop_terms)


def parse_params(op, text):
    """Every key the op takes, given or its default, as tools/cases.c does."""
    given = {}
    for item in ([] if text == "-" else text.split(",")):
        key, _, value = item.partition("=")
        if key not in OPS[op].params or not value:
            raise ValueError(f"parameter {item!r} does not apply to {op}")
        v, kind = float(value), PARAMS[key][0]
        if not {"flag": v in (0, 1), "positive": v > 0, "count": v >= 1 and v.is_integer()}[kind]:
            raise ValueError(f"parameter {item!r} is out of range")
        given[key] = v
    params = {k: given.get(k, PARAMS[k][1]) for k in OPS[op].params}
    missing = [k for k, v in params.items() if v is None]
    if missing:
        raise ValueError(f"{op} needs {', '.join(missing)}")
    return params


def parse_case(fields):
    if len(fields) != 6:
        raise ValueError("expected 6 tab-separated fields: name op dtype shape params class")
    name, op, dtype, shape, params, cls = fields
    if op not in OPS or dtype not in DTYPES or cls not in CLASSES:
        raise ValueError(f"unknown op, dtype or class in {fields}")
    dims = tuple(int(d) for d in shape.split(","))
    lo, hi = OPS[op].ndim
    if any(d <= 0 for d in dims) or not lo <= len(dims) <= hi:
        raise ValueError(f"bad shape {shape} for {op}")
    return Case(name, op, dtype, dims, params, parse_params(op, params), cls)


def load_cases(path):
    cases = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            try:
                cases.append(parse_case(line.split("\t")))
            except ValueError as e:
                sys.exit(f"torch_side: {path}:{lineno}: {e}")
    return cases


def default_cases_path():
    env = os.environ.get("KILN_CASES")
    return env or os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.tsv")


def matches(case, text):
    return not text or text in case.name or text in case.cls


# ------------------------------------------------------- inputs and the ops

def uniform(shape, lo, hi, dtype, device, gen):
    """Uniform in [lo, hi), drawn in f32 then rounded, as tools/workload.c does."""
    x = torch.rand(shape, generator=gen, device="cpu") * (hi - lo) + lo
    return x.to(dtype).to(device)


def offsets(case):
    """attention_varlen's cu_seqlens: where each sequence starts, then T."""
    cu = [0]
    for b in range(case.shape[0]):
        cu.append(cu[-1] + case.seq_len(b))
    return cu


def make_tensor(case, role, device, gen):
    shape = case.role_shape(role)
    if role.fill == "cu":
        return torch.tensor(offsets(case), dtype=torch.int32, device=device)
    if role.fill == "ids":  # int32 ids: F.embedding takes int32 as well as int64
        return torch.randint(0, case.shape[0], shape, generator=gen, dtype=torch.int32).to(device)
    lo, hi = (0.5, 1.5) if role.fill == "gain" else (-2, 2)
    return uniform(shape, lo, hi, DTYPES[case.dtype], device, gen)


def make_set(case, device, gen):
    """The op's inputs, in role order; PyTorch allocates the outputs. An op
    with its own timed inputs (attention_varlen: the padded batch PyTorch
    users run) makes those instead."""
    if OPS[case.op].timed_make:
        return OPS[case.op].timed_make(case, device, gen)
    return tuple(make_tensor(case, r, device, gen) for r in OPS[case.op].roles if not r.out)


def matmul_fn(case, device):
    return (lambda a, b: a @ b.t()) if case.params["tb"] else (lambda a, b: a @ b)


def softmax_fn(case, device):
    p = case.params
    scale = p["scale"]
    if not p["causal"]:
        return (lambda x: torch.softmax(x * scale, -1)) if scale != 1.0 else (lambda x: torch.softmax(x, -1))
    sq, sk = case.shape[-2], case.shape[-1]
    mask = torch.ones(sq, sk, dtype=torch.bool, device=device).triu(sk - sq + 1)
    return lambda x: torch.softmax((x * scale).masked_fill(mask, float("-inf")), -1)


def rms_norm_fn(case, device):
    h, eps = case.shape[-1], case.params["eps"]
    return lambda x, w: F.rms_norm(x, (h,), w, eps)


def lora_fn(case, device):
    """PEFT's unfused LoRA forward: base layer, then scale * B(A(x))."""
    scale = case.params["scale"]
    return lambda x, w, a, b: F.linear(x, w, None) + scale * F.linear(F.linear(x, a), b)


def add_rms_norm_fn(case, device):
    h, eps = case.shape[-1], case.params["eps"]

    def add_rms_norm(x, r, w):
        hidden = x + r
        return hidden, F.rms_norm(hidden, (h,), w, eps)
    return add_rms_norm


def layer_norm_fn(case, device):
    h, eps = case.shape[-1], case.params["eps"]
    return lambda x, w, b: F.layer_norm(x, (h,), w, b, eps)


def add_layer_norm_fn(case, device):
    h, eps = case.shape[-1], case.params["eps"]

    def add_layer_norm(x, r, w, b):
        hidden = x + r
        return hidden, F.layer_norm(hidden, (h,), w, b, eps)
    return add_layer_norm


def mean_pool_fn(case, device):
    """sentence-transformers' pooling of full sequences: the mean over the
    tokens, then F.normalize."""
    return lambda x: F.normalize(x.mean(dim=1), dim=-1)


def gelu_fn(case, device):
    approximate = "tanh" if case.params["tanh"] else "none"
    return lambda x: F.gelu(x, approximate=approximate)


def rope_fn(case, device):
    """Hugging Face's rotate-half RoPE (LlamaRotaryEmbedding and
    apply_rotary_pos_emb): f32 inv_freq and angles, cos/sin rounded to the
    dtype. The tables are made here, once, outside the timed region."""
    s, d = case.shape[-2], case.shape[-1]
    inv_freq = 1.0 / (case.params["base"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    freqs = torch.outer(torch.arange(s, dtype=torch.int64).float(), inv_freq)
    emb = torch.cat((freqs, freqs), -1).to(device)
    cos, sin = emb.cos().to(DTYPES[case.dtype]), emb.sin().to(DTYPES[case.dtype])

    def rope(x):
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return x * cos + torch.cat((-x2, x1), -1) * sin
    return rope


# SDPA's backends, each forced in turn by bench/torch_side.py (names as in
# torch.nn.attention.SDPBackend); the primary mode is PyTorch's own pick.
SDPA_BACKENDS = {"cuda": ("flash", "cudnn", "efficient", "math"), "cpu": ("flash", "math")}


def sdpa_context(backend):
    """A context that forces one SDPA backend (None: PyTorch picks)."""
    import contextlib
    if backend is None:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    names = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
             "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
    return sdpa_kernel(names[backend])


def sdpa(q, k, v, causal, mask=None, backend=None):
    """SDPA on kiln's [B, S, H, D] tensors through [B, H, S, D] views (no
    copies), causal bottom-right aligned as kiln's (PyTorch's is_causal is
    top-left, the same when Sq = Sk)."""
    qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    sq, sk, gqa = qt.shape[-2], kt.shape[-2], qt.shape[1] != kt.shape[1]
    with sdpa_context(backend):
        if causal and (sq != sk or mask is not None):
            # SDPA takes is_causal or a mask, not both: fold the causal part in
            keep = torch.ones(sq, sk, dtype=torch.bool, device=q.device).tril(sk - sq)
            if mask is None:
                from torch.nn.attention.bias import causal_lower_right
                mask = causal_lower_right(sq, sk)
            else:
                mask = mask & keep
            causal = False
        out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask, is_causal=bool(causal),
                                             enable_gqa=gqa)
    return out.transpose(1, 2)


def attention_fn(case, device, backend=None):
    causal = bool(case.params["causal"])
    return lambda q, k, v: sdpa(q, k, v, causal, backend=backend)


def varlen_fn(case, device, backend=None):
    """From kiln's varlen tensors (for bench/agree.py): pad each sequence to
    S, SDPA with a key-padding mask, unpad. Timing uses varlen_timed_make
    and padded_fn instead, so padding is not timed."""
    causal, s = bool(case.params["causal"]), case.shape[1]

    def run(q, k, v, cu):
        cu = cu.tolist()
        batch = len(cu) - 1
        pad = lambda t: torch.stack([torch.nn.functional.pad(t[cu[b]:cu[b + 1]],
                                                             (0, 0, 0, 0, 0, s - (cu[b + 1] - cu[b])))
                                     for b in range(batch)])
        mask = torch.zeros(batch, 1, 1, s, dtype=torch.bool, device=q.device)
        for b in range(batch):
            mask[b, ..., : cu[b + 1] - cu[b]] = True
        out = sdpa(pad(q), pad(k), pad(v), causal, mask=mask, backend=backend)
        return torch.cat([out[b, : cu[b + 1] - cu[b]] for b in range(batch)])
    return run


def varlen_timed_make(case, device, gen):
    """What a PyTorch user runs for attention_varlen's sequences: q, k, v
    padded to [B, S, H, D] and a boolean key-padding mask [B, 1, 1, S]."""
    b, s, h, d = case.shape
    hkv = case.kv_heads()
    q = uniform((b, s, h, d), -2, 2, DTYPES[case.dtype], device, gen)
    k = uniform((b, s, hkv, d), -2, 2, DTYPES[case.dtype], device, gen)
    v = uniform((b, s, hkv, d), -2, 2, DTYPES[case.dtype], device, gen)
    lengths = torch.tensor([case.seq_len(i) for i in range(b)], device=device)
    mask = (torch.arange(s, device=device)[None, :] < lengths[:, None])[:, None, None, :]
    return q, k, v, mask


def padded_fn(case, device, backend=None):
    causal = bool(case.params["causal"])
    return lambda q, k, v, mask: sdpa(q, k, v, causal, mask=mask, backend=backend)


@dataclasses.dataclass(frozen=True)
class Role:
    """One tensor of an op, as in tools/ops.c; dims letters as Case.dims."""
    name: str
    dims: str
    fill: str = "data"     # data [-2, 2), gain [0.5, 1.5), ids (int32 in [0, shape[0])),
                           # cu (attention_varlen's int32 offsets)
    out: bool = False      # an output: kiln is given it, PyTorch allocates it
    dims_tb: str = None    # dims with tb=1
    counted: str = None    # dims counted as bytes moved, when not all of dims


@dataclasses.dataclass(frozen=True)
class Op:
    """tools/ops.c's op_spec, and the PyTorch function for the op."""
    ndim: tuple            # (fewest, most) dims of the case shape
    params: tuple          # the keys it takes
    roles: tuple
    fn: object             # fn(case, device) -> a function of the inputs
    flop_terms: tuple = ()  # flops = 2 * sum of products; none: rated in GB/s
    compile: bool = False  # also time torch.compile of fn on CUDA (large cases)
    sdpa: bool = False     # also time fn with each SDPA backend forced (fn takes backend=)
    timed_make: object = None  # (case, device, gen) -> the inputs to time, when not the roles'
    timed_fn: object = None    # (case, device, backend=None) -> the function of those inputs


X, OUT, ANY = Role("x", "*"), Role("out", "*", out=True), (1, 4)
OPS = {
    "matmul": Op((3, 3), ("tb",), (Role("a", "02"), Role("b", "21", dims_tb="12"),
                                   Role("out", "01", out=True)), matmul_fn, ("012",)),
    "softmax": Op(ANY, ("causal", "scale"), (X, OUT), softmax_fn, compile=True),
    "rms_norm": Op(ANY, ("eps",), (X, Role("weight", "L", "gain"), OUT), rms_norm_fn,
                   compile=True),
    "lora_linear": Op((3, 3), ("rank", "scale"),
                      (Role("x", "01"), Role("w", "21"), Role("a", "r1"), Role("b", "2r"),
                       Role("out", "02", out=True)), lora_fn, ("012", "01r", "0r2")),
    "add_rms_norm": Op(ANY, ("eps",), (X, Role("residual", "*"), Role("weight", "L", "gain"),
                                       Role("h_out", "*", out=True), OUT),
                       add_rms_norm_fn, compile=True),
    "layer_norm": Op(ANY, ("eps",), (X, Role("weight", "L", "gain"), Role("bias", "L"), OUT),
                     layer_norm_fn, compile=True),
    "add_layer_norm": Op(ANY, ("eps",), (X, Role("residual", "*"), Role("weight", "L", "gain"),
                                         Role("bias", "L"), Role("h_out", "*", out=True), OUT),
                         add_layer_norm_fn, compile=True),
    "mean_pool": Op((3, 3), (), (Role("x", "012"), Role("out", "02", out=True)), mean_pool_fn),
    "gelu": Op(ANY, ("tanh",), (X, OUT), gelu_fn),
    "silu": Op(ANY, (), (X, OUT), lambda case, device: F.silu),
    "swiglu": Op(ANY, (), (Role("gate", "*"), Role("up", "*"), OUT),
                 lambda case, device: lambda g, u: F.silu(g) * u),
    "rope": Op((2, 4), ("base",), (X, OUT), rope_fn),
    "embedding": Op((3, 3), (), (Role("table", "01", counted="21"), Role("ids", "2", "ids"),
                                 Role("out", "21", out=True)),
                    lambda case, device: lambda table, ids: F.embedding(ids, table)),
    "attention": Op((4, 4), ("causal", "sk", "hkv"),
                    (Role("q", "0123"), Role("k", "0kh3"), Role("v", "0kh3"),
                     Role("out", "0123", out=True)), attention_fn, ("P23", "P23"), sdpa=True),
    "attention_varlen": Op((4, 4), ("causal", "hkv", "minlen"),
                           (Role("q", "T23"), Role("k", "Th3"), Role("v", "Th3"),
                            Role("out", "T23", out=True), Role("cu_seqlens", "+", "cu")),
                           varlen_fn, ("P23", "P23"), sdpa=True,
                           timed_make=varlen_timed_make, timed_fn=padded_fn),
    "attention_decode": Op((4, 4), ("causal", "sk", "hkv"),
                           (Role("q", "0123"), Role("k", "0kh3"), Role("v", "0kh3"),
                            Role("out", "0123", out=True)), attention_fn, sdpa=True),
}


def op_function(case, device):
    """A function of one set's tensors computing the case's op the way a
    PyTorch user would write it."""
    return OPS[case.op].fn(case, device)


def timed_function(case, device, backend=None):
    """The function torch_side.py times on make_set's inputs; backend forces
    one SDPA backend (ops with sdpa=True)."""
    op = OPS[case.op]
    fn = op.timed_fn or op.fn
    return fn(case, device, backend) if backend else fn(case, device)
