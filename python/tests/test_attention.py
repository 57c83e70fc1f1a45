"""kiln.attention and kiln.attention_packed against a NumPy float64
reference: padded with GQA, causal, additive masks and key lengths; varlen;
packed QKV; and their errors."""

import numpy as np
import pytest

import kiln
from conftest import FLOAT_DTYPES, check_close, expect_error, make, poisoned

TOL = {"f32": 5e-5, "f16": 4e-3, "bf16": 3e-2}


def softmax_rows(s):
    mx = s.max(axis=-1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    e = np.exp(s - mx)
    tot = e.sum(axis=-1, keepdims=True)
    return np.where(tot > 0, e / np.where(tot > 0, tot, 1), 0.0)


def ref_one(q, k, v, scale, causal, mask=None, lk=None):
    """q [Sq, D], k, v [Sk, D] of one sequence and head."""
    sq, sk = q.shape[0], k.shape[0]
    lk = sk if lk is None else lk
    s = scale * q @ k.T
    if mask is not None:
        s = s + mask
    j = np.arange(sk)[None, :]
    s = np.where(j >= lk, -np.inf, s)
    if causal:
        i = np.arange(sq)[:, None]
        s = np.where(j > i + (lk - sq), -np.inf, s)
    return softmax_rows(s) @ v


def ref_padded(q, k, v, scale, causal, mask=None, seqlens=None):
    b, sq, hq, d = q.shape
    hkv = k.shape[2]
    out = np.zeros_like(q)
    for bi in range(b):
        for h in range(hq):
            m = None
            if mask is not None:
                m4 = mask.reshape((1, 1) + mask.shape) if mask.ndim == 2 else mask
                m = m4[bi if m4.shape[0] > 1 else 0, h if m4.shape[1] > 1 else 0]
            out[bi, :, h] = ref_one(q[bi, :, h], k[bi, :, h // (hq // hkv)],
                                    v[bi, :, h // (hq // hkv)], scale, causal, m,
                                    None if seqlens is None else seqlens[bi])
    return out


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", [
    dict(b=1, sq=1, sk=1, hq=1, hkv=1, d=1),
    dict(b=2, sq=5, sk=7, hq=4, hkv=2, d=16, causal=True),
    dict(b=3, sq=17, sk=17, hq=3, hkv=1, d=33, mask="2d"),
    dict(b=2, sq=4, sk=9, hq=2, hkv=2, d=8, mask="keys", seqlens=True, causal=True),
], ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
@pytest.mark.parametrize("use_out", [False, True])
def test_attention_padded(ctx, rng, dtype, case, use_out):
    b, sq, sk, hq, hkv, d = (case[k] for k in ("b", "sq", "sk", "hq", "hkv", "d"))
    q, qv = make(ctx, rng, (b, sq, hq, d), dtype)
    k, kv = make(ctx, rng, (b, sk, hkv, d), dtype)
    v, vv = make(ctx, rng, (b, sk, hkv, d), dtype)
    kw = dict(causal=case.get("causal", False))
    mask = mv = seq = None
    if case.get("mask") == "2d":
        mvals = rng.uniform(-1, 1, (sq, sk))
        mvals[0, 1] = -np.inf
        mask = kiln.tensor(mvals, dtype=dtype, ctx=ctx)
    elif case.get("mask") == "keys":
        mvals = rng.uniform(-1, 1, (b, 1, 1, sk))
        mask = kiln.tensor(mvals, dtype=dtype, ctx=ctx)
    if mask is not None:
        kw["mask"] = mask
        mv = mask.numpy().astype(np.float64)
    if case.get("seqlens"):
        seq = rng.integers(1, sk + 1, size=b)
        kw["seqlens_k"] = kiln.tensor(seq, ctx=ctx)
    scale = 0.3
    if use_out:
        out = poisoned(ctx, (b, sq, hq, d), dtype)
        assert kiln.attention(q, k, v, scale=scale, out=out, **kw) is out
    else:
        out = kiln.attention(q, k, v, scale=scale, **kw)
    ref = ref_padded(qv, kv, vv, scale, kw["causal"], mv, seq)
    check_close(out.numpy(), ref, dtype, tol=TOL[dtype], row_len=d)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_attention_default_scale_and_packed(ctx, rng, dtype):
    b, s, hq, hkv, d = 2, 6, 4, 2, 16
    qkv, qkvv = make(ctx, rng, (b, s, hq + 2 * hkv, d), dtype)
    out = kiln.attention_packed(qkv, num_heads=hq, causal=True)
    assert out.shape == (b, s, hq, d)
    qv, kv, vv = qkvv[:, :, :hq], qkvv[:, :, hq:hq + hkv], qkvv[:, :, hq + hkv:]
    ref = ref_padded(qv, kv, vv, 1 / np.sqrt(d), True)
    check_close(out.numpy(), ref, dtype, tol=TOL[dtype], row_len=d)
    out2 = poisoned(ctx, (b, s, hq, d), dtype)
    kiln.attention_packed(qkv, causal=True, out=out2)
    np.testing.assert_array_equal(out2.numpy(), out.numpy())


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_attention_varlen(ctx, rng, dtype):
    lens_q, lens_k = [3, 1, 5], [4, 2, 5]
    cu_q, cu_k = np.cumsum([0] + lens_q), np.cumsum([0] + lens_k)
    hq, hkv, d = 4, 1, 8
    q, qv = make(ctx, rng, (cu_q[-1], hq, d), dtype)
    k, kv = make(ctx, rng, (cu_k[-1], hkv, d), dtype)
    v, vv = make(ctx, rng, (cu_k[-1], hkv, d), dtype)
    out = kiln.attention(q, k, v, causal=True, cu_seqlens_q=kiln.tensor(cu_q, ctx=ctx),
                         cu_seqlens_k=kiln.tensor(cu_k, ctx=ctx), max_seqlen_q=max(lens_q),
                         max_seqlen_k=max(lens_k))
    ref = np.zeros_like(qv)
    for bi in range(3):
        qs, ks = slice(cu_q[bi], cu_q[bi + 1]), slice(cu_k[bi], cu_k[bi + 1])
        for h in range(hq):
            ref[qs, h] = ref_one(qv[qs, h], kv[ks, 0], vv[ks, 0], 1 / np.sqrt(d), True)
    check_close(out.numpy(), ref, dtype, tol=TOL[dtype], row_len=d)


def test_attention_errors(ctx, rng):
    q, _ = make(ctx, rng, (1, 4, 3, 8), "f32")
    k, _ = make(ctx, rng, (1, 4, 2, 8), "f32")
    out = kiln.zeros((1, 4, 3, 8), ctx=ctx)
    with expect_error(kiln.ShapeError, "kiln_attention", "k"):
        kiln.attention(q, k, k, out=out)  # 3 query heads over 2 kv heads
    np.testing.assert_array_equal(out.numpy(), 0)
    q2, _ = make(ctx, rng, (5, 2, 8), "f32")
    cu = kiln.tensor(np.array([0, 4, 3]), ctx=ctx)
    with expect_error(kiln.InvalidArgumentError, "kiln_attention", "cu_seqlens_q"):
        kiln.attention(q2, q2, q2, cu_seqlens_q=cu, max_seqlen_q=5, max_seqlen_k=5)
    with expect_error(kiln.InvalidArgumentError, "kiln.attention_packed", "num_heads"):
        kiln.attention_packed(q)
    with expect_error(kiln.InvalidArgumentError, "kiln.attention", "scale"):
        kiln.attention(q, q, q, scale=0.0)
    h, _ = make(ctx, rng, (1, 4, 3, 8), "f16")
    with expect_error(kiln.DTypeError, "kiln_attention", "f16"):
        kiln.attention(q, h, h)
