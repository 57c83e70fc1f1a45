"""Every op against a NumPy float64 reference on the CPU: awkward shapes,
every float dtype, with out= given (poisoned first) and without."""

import math

import numpy as np
import pytest

import kiln
from conftest import FLOAT_DTYPES, check_close, expect_error, make, poisoned, round_to

pytestmark = pytest.mark.parametrize("dtype", FLOAT_DTYPES)

# The CPU always; the GPU too where this build and machine have one (the C
# suite tests the kernels; this checks the binding on both backends).
DEVICES = ["cpu"] + (["cuda"] if kiln.device_count("cuda") > 0 else [])


@pytest.fixture(scope="module", params=DEVICES)
def ctx(request):
    return kiln.Context(request.param)


def run(op, out_shape, dtype, ctx, use_out, *args, **kw):
    """op(*args, **kw) with a poisoned out= or without one; the result as float64."""
    if use_out:
        out = poisoned(ctx, out_shape, dtype)
        res = op(*args, out=out, **kw)
        assert res is out
    else:
        res = op(*args, **kw)
        assert res.shape == tuple(out_shape) and res.dtype == dtype
    return res.numpy().astype(np.float64)


# ---------------------------------------------------------------- matmul

MATMUL_CASES = [
    # a shape, b shape, transpose_a, transpose_b
    ((1, 1), (1, 1), False, False),
    ((3, 17), (17, 5), False, False),
    ((17, 1000), (3, 1000), False, True),  # torch Linear weight layout
    ((1000, 3), (1000, 17), True, False),
    ((2, 3, 17, 5), (5, 7), False, False),  # shared b
    ((2, 3, 17, 5), (2, 3, 5, 7), False, False),  # batched b
    ((4, 33, 9), (4, 65, 9), False, True),
]


@pytest.mark.parametrize("case", MATMUL_CASES, ids=lambda c: f"{c[0]}x{c[1]}t{int(c[2])}{int(c[3])}")
@pytest.mark.parametrize("use_out", [False, True])
def test_matmul(ctx, rng, dtype, case, use_out):
    ashape, bshape, ta, tb = case
    a, av = make(ctx, rng, ashape, dtype)
    b, bv = make(ctx, rng, bshape, dtype)
    A = np.swapaxes(av, -1, -2) if ta else av
    B = np.swapaxes(bv, -1, -2) if tb else bv
    ref = A @ B
    got = run(kiln.matmul, ref.shape, dtype, ctx, use_out, a, b, transpose_a=ta, transpose_b=tb)
    check_close(got, ref, dtype, tol=4 * {"f32": 2e-5, "f16": 2e-3, "bf16": 1.6e-2}[dtype])


def test_matmul_alpha_beta_bias(ctx, rng, dtype):
    a, av = make(ctx, rng, (5, 33), dtype)
    b, bv = make(ctx, rng, (33, 17), dtype)
    bias, biasv = make(ctx, rng, (17,), dtype)
    out, outv = make(ctx, rng, (5, 17), dtype)
    res = kiln.matmul(a, b, alpha=0.5, beta=-1.5, bias=bias, out=out)
    assert res is out
    ref = 0.5 * (av @ bv) - 1.5 * outv + biasv
    check_close(out.numpy(), ref, dtype, tol=4 * {"f32": 2e-5, "f16": 2e-3, "bf16": 1.6e-2}[dtype])


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh"])
def test_matmul_activation(ctx, rng, dtype, activation):
    # a Linear layer with its GELU: [17, 33] x [1000, 33]^T + bias
    a, av = make(ctx, rng, (17, 33), dtype)
    w, wv = make(ctx, rng, (1000, 33), dtype)
    bias, biasv = make(ctx, rng, (1000,), dtype)
    z = av @ wv.T + biasv
    if activation == "gelu":
        ref = 0.5 * z * (1 + _erf(z / math.sqrt(2)).astype(np.float64))
    else:
        ref = 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
    got = kiln.matmul(a, w, transpose_b=True, bias=bias, activation=activation)
    check_close(got.numpy().astype(np.float64), ref, dtype,
                tol=4 * {"f32": 2e-5, "f16": 2e-3, "bf16": 1.6e-2}[dtype])


# --------------------------------------------------------------- softmax

def ref_softmax(x, scale=1.0, causal=False, mask=None):
    z = scale * x
    if mask is not None:
        rows = z.reshape(-1, z.shape[-1])
        m = mask.reshape(-1, z.shape[-1])
        group = rows.shape[0] // m.shape[0]
        z = (rows + np.repeat(m, group, axis=0)).reshape(z.shape)
    if causal:
        sq, sk = z.shape[-2:]
        i = np.arange(sq)[:, None]
        j = np.arange(sk)[None, :]
        z = np.where(j > i + (sk - sq), -np.inf, z)
    mx = z.max(axis=-1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    e = np.exp(z - mx)
    s = e.sum(axis=-1, keepdims=True)
    return np.where(s > 0, e / np.where(s > 0, s, 1), 0.0)


@pytest.mark.parametrize("shape", [(1,), (3, 17), (2, 5, 1000), (4099,)])
@pytest.mark.parametrize("use_out", [False, True])
def test_softmax(ctx, rng, dtype, shape, use_out):
    x, xv = make(ctx, rng, shape, dtype, -4, 4)
    got = run(kiln.softmax, shape, dtype, ctx, use_out, x, scale=0.37)
    check_close(got, ref_softmax(xv, 0.37), dtype)


def test_softmax_causal_and_masks(ctx, rng, dtype):
    x, xv = make(ctx, rng, (2, 3, 7), dtype, -3, 3)  # Sq 3 < Sk 7: bottom-right aligned
    check_close(kiln.softmax(x, causal=True).numpy(), ref_softmax(xv, causal=True), dtype)
    mvals = rng.uniform(-1, 1, size=(2, 7))
    mvals[0, 2] = -np.inf
    mvals[1, :] = -np.inf  # every key of batch 1 masked: zeros, not NaN
    mask = kiln.tensor(mvals, dtype=dtype, ctx=ctx)
    mheld = mask.numpy().astype(np.float64)
    got = kiln.softmax(x, scale=2.0, causal=True, mask=mask).numpy()
    check_close(got, ref_softmax(xv, 2.0, True, mheld), dtype)
    assert (got[1] == 0).all()
    m1 = kiln.tensor(mvals[0], dtype=dtype, ctx=ctx)
    got = kiln.softmax(x, mask=m1).numpy()
    check_close(got, ref_softmax(xv, mask=m1.numpy().astype(np.float64)[None, :].repeat(1, 0)),
                dtype)


def test_softmax_in_place(ctx, rng, dtype):
    x, xv = make(ctx, rng, (3, 1000), dtype)
    assert kiln.softmax(x, out=x) is x
    check_close(x.numpy(), ref_softmax(xv), dtype)


# ----------------------------------------------------------------- norms

@pytest.mark.parametrize("shape", [(1,), (3, 17), (2, 3, 1000), (5, 4099)])
@pytest.mark.parametrize("use_out", [False, True])
def test_rms_norm(ctx, rng, dtype, shape, use_out):
    x, xv = make(ctx, rng, shape, dtype)
    w, wv = make(ctx, rng, shape[-1:], dtype)
    ref = xv / np.sqrt((xv**2).mean(axis=-1, keepdims=True) + 1e-5) * wv
    got = run(kiln.rms_norm, shape, dtype, ctx, use_out, x, w, eps=1e-5)
    check_close(got, ref, dtype)


@pytest.mark.parametrize("shape", [(1,), (3, 17), (2, 3, 1000)])
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
def test_layer_norm(ctx, rng, dtype, shape, affine):
    x, xv = make(ctx, rng, shape, dtype, 50, 54)  # a large mean: no cancellation allowed
    w, wv = make(ctx, rng, shape[-1:], dtype) if affine != "none" else (None, 1.0)
    b, bv = make(ctx, rng, shape[-1:], dtype) if affine == "both" else (None, 0.0)
    mean = xv.mean(axis=-1, keepdims=True)
    var = ((xv - mean) ** 2).mean(axis=-1, keepdims=True)
    ref = (xv - mean) / np.sqrt(var + 1e-5) * wv + bv
    out = poisoned(ctx, shape, dtype)
    kiln.layer_norm(x, w, b, eps=1e-5, out=out)
    if shape[-1] == 1:  # one element: every output is the bias
        np.testing.assert_allclose(out.numpy(), np.broadcast_to(bv, shape), atol=1e-6)
    else:
        check_close(out.numpy(), ref, dtype)


@pytest.mark.parametrize("shape", [(1,), (3, 17), (2, 3, 1000)])
@pytest.mark.parametrize("use_out", [False, True])
def test_add_rms_norm(ctx, rng, dtype, shape, use_out):
    x, xv = make(ctx, rng, shape, dtype)
    r, rv = make(ctx, rng, shape, dtype)
    w, wv = make(ctx, rng, shape[-1:], dtype)
    kw = {}
    if use_out:
        kw = {"h_out": poisoned(ctx, shape, dtype), "out": poisoned(ctx, shape, dtype)}
    h, out = kiln.add_rms_norm(x, r, w, eps=1e-6, **kw)
    if use_out:
        assert h is kw["h_out"] and out is kw["out"]
    hv = h.numpy().astype(np.float64)
    np.testing.assert_array_equal(hv, round_to(xv + rv, dtype))
    ref = hv / np.sqrt((hv**2).mean(axis=-1, keepdims=True) + 1e-6) * wv
    check_close(out.numpy(), ref, dtype)


def test_add_rms_norm_in_place_residual(ctx, rng, dtype):
    x, xv = make(ctx, rng, (3, 17), dtype)
    r, rv = make(ctx, rng, (3, 17), dtype)
    w, wv = make(ctx, rng, (17,), dtype)
    h, out = kiln.add_rms_norm(x, r, w, h_out=r)
    assert h is r
    np.testing.assert_array_equal(r.numpy().astype(np.float64), round_to(xv + rv, dtype))


def ref_layer_norm(hv, wv, bv, eps):
    mean = hv.mean(axis=-1, keepdims=True)
    var = ((hv - mean) ** 2).mean(axis=-1, keepdims=True)
    return (hv - mean) / np.sqrt(var + eps) * wv + bv


@pytest.mark.parametrize("shape", [(1,), (3, 17), (2, 3, 1000)])
@pytest.mark.parametrize("use_out", [False, True])
def test_add_layer_norm(ctx, rng, dtype, shape, use_out):
    x, xv = make(ctx, rng, shape, dtype, 50, 54)  # h around 50: no cancellation allowed
    r, rv = make(ctx, rng, shape, dtype)
    w, wv = make(ctx, rng, shape[-1:], dtype)
    b, bv = make(ctx, rng, shape[-1:], dtype)
    kw = {}
    if use_out:
        kw = {"h_out": poisoned(ctx, shape, dtype), "out": poisoned(ctx, shape, dtype)}
    h, out = kiln.add_layer_norm(x, r, w, b, eps=1e-5, **kw)
    if use_out:
        assert h is kw["h_out"] and out is kw["out"]
    hv = h.numpy().astype(np.float64)
    np.testing.assert_array_equal(hv, round_to(xv + rv, dtype))
    if shape[-1] == 1:  # one element: every output is the bias
        np.testing.assert_allclose(out.numpy(), np.broadcast_to(bv, shape), atol=1e-6)
    else:
        check_close(out.numpy(), ref_layer_norm(hv, wv, bv, 1e-5), dtype)


def test_add_layer_norm_in_place_matches_add_then_layer_norm(ctx, rng, dtype):
    """h_out = x (the post-norm step, no weight or bias) gives the bits of
    kiln.add then kiln.layer_norm: out is normalized from h as stored."""
    x, xv = make(ctx, rng, (5, 384), dtype)
    r, rv = make(ctx, rng, (5, 384), dtype)
    h2 = kiln.add(x, r)
    out2 = kiln.layer_norm(h2, eps=1e-12)
    h, out = kiln.add_layer_norm(x, r, eps=1e-12, h_out=x)
    assert h is x
    np.testing.assert_array_equal(x.numpy(), h2.numpy())
    np.testing.assert_array_equal(out.numpy(), out2.numpy())


def ref_mean_pool(rows_per_seq, h, normalize):
    ref = np.zeros((len(rows_per_seq), h))
    for bi, rows in enumerate(rows_per_seq):
        if len(rows):
            ref[bi] = rows.mean(axis=0)
        norm = np.sqrt((ref[bi] ** 2).sum())
        if normalize and norm > 0:
            ref[bi] /= norm
    return ref


@pytest.mark.parametrize("lens", [[1], [3, 0, 17], [5, 1, 128, 2]], ids=str)
@pytest.mark.parametrize("h", [1, 17, 384])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("use_out", [False, True])
def test_mean_pool_varlen(ctx, rng, dtype, lens, h, normalize, use_out):
    cu = np.cumsum([0] + lens).astype(np.int32)
    x, xv = make(ctx, rng, (int(cu[-1]), h), dtype, -1.0, 2.0)
    ref = ref_mean_pool([xv[cu[i]:cu[i + 1]] for i in range(len(lens))], h, normalize)
    got = run(kiln.mean_pool, (len(lens), h), dtype, ctx, use_out, x, kiln.tensor(cu, ctx=ctx),
              normalize=normalize)
    check_close(got, ref, dtype)


@pytest.mark.parametrize("seqlens", [None, [4, 0, 1]], ids=str)
@pytest.mark.parametrize("normalize", [False, True])
def test_mean_pool_padded(ctx, rng, dtype, seqlens, normalize):
    b, s, h = 3, 4, 33
    x, xv = make(ctx, rng, (b, s, h), dtype, -1.0, 2.0)
    lens = seqlens if seqlens is not None else [s] * b
    ref = ref_mean_pool([xv[i, :lens[i]] for i in range(b)], h, normalize)
    sl = kiln.tensor(np.array(seqlens, dtype=np.int32), ctx=ctx) if seqlens else None
    out = kiln.mean_pool(x, sl, normalize=normalize)
    assert out.shape == (b, h) and out.dtype == dtype
    check_close(out.numpy(), ref, dtype)


def test_mean_pool_errors(ctx, rng, dtype):
    x, _ = make(ctx, rng, (5, 17), dtype)
    with expect_error(kiln.InvalidArgumentError, "kiln_mean_pool", "cu_seqlens"):
        kiln.mean_pool(x)  # varlen without its offsets
    with expect_error(kiln.ShapeError, "kiln_mean_pool", "x"):
        kiln.mean_pool(kiln.zeros((17,), dtype, ctx=ctx))
    out = kiln.zeros((2, 17), dtype, ctx=ctx)
    bad = kiln.tensor(np.array([0, 4, 3], dtype=np.int32), ctx=ctx)
    with expect_error(kiln.InvalidArgumentError, "kiln_mean_pool", "cu_seqlens[2]"):
        kiln.mean_pool(x, bad, normalize=True, out=out)
        out.numpy()  # on the GPU the kernel finds it; the read reports it
    np.testing.assert_array_equal(out.numpy(), 0)


# ----------------------------------------------------------- elementwise

_erf = np.frompyfunc(math.erf, 1, 1)

UNARY = {
    "gelu": (lambda x, **k: kiln.gelu(x, **k), lambda v: 0.5 * v * (1 + _erf(v / math.sqrt(2)).astype(np.float64)), {}),
    "gelu_tanh": (lambda x, **k: kiln.gelu(x, approximate="tanh", **k),
                  lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))), {}),
    "silu": (lambda x, **k: kiln.silu(x, **k), lambda v: v / (1 + np.exp(-v)), {}),
    "scale": (lambda x, **k: kiln.scale(x, -0.75, **k), lambda v: -0.75 * v, {}),
}


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("shape", [(1,), (3, 17), (2, 3, 1000), (4099,)])
@pytest.mark.parametrize("use_out", [False, True])
def test_unary(ctx, rng, dtype, name, shape, use_out):
    op, ref_fn, _ = UNARY[name]
    x, xv = make(ctx, rng, shape, dtype, -6, 6)
    got = run(op, shape, dtype, ctx, use_out, x)
    # Elementwise: each element against its own magnitude (rows of 1).
    ref = ref_fn(xv).astype(np.float64)
    tol = {"f32": 1e-5, "f16": 1e-3, "bf16": 8e-3}[dtype]
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * 1e-2)


def test_unary_in_place(ctx, rng, dtype):
    x, xv = make(ctx, rng, (3, 17), dtype)
    assert kiln.silu(x, out=x) is x
    np.testing.assert_allclose(x.numpy(), xv / (1 + np.exp(-xv)), rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("shape", [(1,), (3, 17), (2, 3, 1000)])
@pytest.mark.parametrize("use_out", [False, True])
def test_swiglu(ctx, rng, dtype, shape, use_out):
    g, gv = make(ctx, rng, shape, dtype, -5, 5)
    u, uv = make(ctx, rng, shape, dtype)
    got = run(kiln.swiglu, shape, dtype, ctx, use_out, g, u)
    tol = {"f32": 1e-5, "f16": 1e-3, "bf16": 8e-3}[dtype]
    np.testing.assert_allclose(got, gv / (1 + np.exp(-gv)) * uv, rtol=tol, atol=tol * 1e-2)


@pytest.mark.parametrize("op,ref", [(kiln.add, np.add), (kiln.mul, np.multiply)], ids=["add", "mul"])
@pytest.mark.parametrize("shapes", [((1,), (1,)), ((3, 17), (17,)), ((2, 3, 1000), (3, 1000)),
                                    ((2, 5, 7), (2, 5, 7)), ((4099,), (4099,))])
@pytest.mark.parametrize("use_out", [False, True])
def test_binary(ctx, rng, dtype, op, ref, shapes, use_out):
    a, av = make(ctx, rng, shapes[0], dtype)
    b, bv = make(ctx, rng, shapes[1], dtype)
    got = run(op, shapes[0], dtype, ctx, use_out, a, b)
    # One rounding of an exact f32 sum or product: exactly the rounded reference.
    np.testing.assert_array_equal(got, round_to(ref(av, bv), dtype))


# ------------------------------------------------------------------ rope

def ref_rope(x, base=10000.0, position_offset=0, interleaved=False, rotary_dims=0, seq_axis=-2):
    d = x.shape[-1]
    rd = rotary_dims or d
    s = x.shape[seq_axis]
    i = np.arange(rd // 2)
    inv = (1.0 / np.power(float(np.float32(base)), 2.0 * i / rd)).astype(np.float32)
    pos = (position_offset + np.arange(s)).astype(np.float32)
    angle = (pos[:, None] * inv[None, :]).astype(np.float32).astype(np.float64)
    if seq_axis == -3:
        angle = angle[:, None, :]
    cos, sin = np.cos(angle), np.sin(angle)
    out = x.copy()
    if interleaved:
        x1, x2 = x[..., 0:rd:2], x[..., 1:rd:2]
        out[..., 0:rd:2] = x1 * cos - x2 * sin
        out[..., 1:rd:2] = x2 * cos + x1 * sin
    else:
        x1, x2 = x[..., : rd // 2], x[..., rd // 2: rd]
        out[..., : rd // 2] = x1 * cos - x2 * sin
        out[..., rd // 2: rd] = x2 * cos + x1 * sin
    return out


@pytest.mark.parametrize("case", [
    dict(shape=(1, 2), kw={}),
    dict(shape=(2, 3, 17, 64), kw=dict(position_offset=1000)),
    dict(shape=(3, 5, 10), kw=dict(interleaved=True, base=500.0)),
    dict(shape=(2, 7, 3, 12), kw=dict(seq_axis=-3, rotary_dims=8)),
    dict(shape=(1, 1, 96), kw=dict(position_offset=4098, rotary_dims=32, interleaved=True)),
], ids=lambda c: f"{c['shape']}-{sorted(c['kw'])}")
@pytest.mark.parametrize("use_out", [False, True])
def test_rope(ctx, rng, dtype, case, use_out):
    x, xv = make(ctx, rng, case["shape"], dtype)
    got = run(kiln.rope, case["shape"], dtype, ctx, use_out, x, **case["kw"])
    check_close(got, ref_rope(xv, **case["kw"]), dtype, row_len=case["shape"][-1])


# ------------------------------------------------------------- embedding

@pytest.mark.parametrize("ids_shape", [(1,), (3,), (2, 17), (2, 3, 5)])
@pytest.mark.parametrize("use_out", [False, True])
def test_embedding(ctx, rng, dtype, ids_shape, use_out):
    table, tv = make(ctx, rng, (1000, 33), dtype)
    idv = rng.integers(0, 1000, size=ids_shape)
    ids = kiln.tensor(idv, ctx=ctx)
    assert ids.dtype == "i32"
    got = run(kiln.embedding, ids_shape + (33,), dtype, ctx, use_out, table, ids)
    np.testing.assert_array_equal(got, tv[idv])


# ------------------------------------------------------------------ lora

@pytest.mark.parametrize("case", [((1, 17), 5, 1), ((3, 1000), 17, 8), ((2, 3, 64), 65, 16)],
                         ids=lambda c: f"x{c[0]}-out{c[1]}-r{c[2]}")
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("device", DEVICES)
def test_lora_linear(rng, dtype, case, bias, fused, device):
    ctx = kiln.Context(device)
    ctx.use_fused(fused)
    xshape, n, r = case
    x, xv = make(ctx, rng, xshape, dtype)
    w, wv = make(ctx, rng, (n, xshape[-1]), dtype, -0.1, 0.1)
    a, av = make(ctx, rng, (r, xshape[-1]), dtype, -0.1, 0.1)
    b, bv = make(ctx, rng, (n, r), dtype, -0.1, 0.1)
    bt, btv = make(ctx, rng, (n,), dtype) if bias else (None, 0.0)
    out = poisoned(ctx, xshape[:-1] + (n,), dtype)
    assert kiln.lora_linear(x, w, a, b, scale=2.0, bias=bt, out=out) is out
    ref = xv @ wv.T + btv + 2.0 * (xv @ av.T) @ bv.T
    tol = {"f32": 1e-4, "f16": 8e-3, "bf16": 6e-2}[dtype]
    check_close(out.numpy(), ref, dtype, tol=tol)
    fresh = kiln.lora_linear(x, w, a, b, scale=2.0, bias=bt)
    assert fresh.shape == out.shape
    check_close(fresh.numpy(), ref, dtype, tol=tol)
