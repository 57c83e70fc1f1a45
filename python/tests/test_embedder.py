"""kiln.Embedder on all-MiniLM-L6-v2 (when scripts/fetch_model.sh has cached
it) against the stored float64 reference embeddings in tests/data, and its
errors and lifetimes."""

import gc
import os

import numpy as np
import pytest

import kiln

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "data")
MODEL = os.path.join(os.environ.get("KILN_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kiln"),
    "models", "all-MiniLM-L6-v2")

needs_model = pytest.mark.skipif(
    not os.path.isfile(os.path.join(MODEL, "model.safetensors")),
    reason=f"all-MiniLM-L6-v2 is not cached in {MODEL} (scripts/fetch_model.sh)")


def texts_and_reference(n):
    with open(os.path.join(DATA, "embed_texts.txt"), "rb") as f:
        # kiln replaces invalid UTF-8 the way errors="replace" does.
        lines = f.read().decode("utf-8", errors="replace").split("\n")
    ref = np.load(os.path.join(DATA, "minilm_ref.npy"))
    return lines[:n], ref[:n]


@pytest.fixture(scope="module")
def embedder():
    return kiln.Embedder(MODEL, ctx=kiln.Context("cpu"))


@needs_model
def test_matches_reference(embedder):
    texts, ref = texts_and_reference(64)
    out = embedder.encode(texts)
    assert out.dtype == np.float32 and out.shape == (64, embedder.dim) == (64, 384)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    cos = (out.astype(np.float64) * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.9999, f"text {cos.argmin()}: cosine {cos.min():.7f}"
    assert embedder.last_tokens > 64 * 2


@needs_model
def test_shapes_and_order(embedder):
    texts, _ = texts_and_reference(5)
    many = embedder.encode(texts)
    one = embedder.encode(texts[3])
    assert one.shape == (384,)
    np.testing.assert_allclose(one, many[3], atol=1e-6)
    rev = embedder.encode(list(reversed(texts)))
    np.testing.assert_allclose(rev[::-1], many, atol=1e-6)
    assert embedder.encode([]).shape == (0, 384)
    assert embedder.encode(("", "a")).shape == (2, 384)  # any sequence; empty text is valid
    assert embedder.max_length == 256


@needs_model
def test_errors_and_lifetime():
    ctx = kiln.Context("cpu")
    with pytest.raises(kiln.DTypeError):
        kiln.Embedder(MODEL, ctx=ctx, dtype="i32")
    e = kiln.Embedder(MODEL, ctx=ctx, dtype="bf16")
    assert e.context is ctx
    del ctx
    gc.collect()
    v = e.encode("the context lives as long as the embedder")
    assert abs(np.linalg.norm(v) - 1) < 1e-2
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        e.encode(["fine", 3])
    with pytest.raises(TypeError):
        e.encode(5)


def test_missing_model(tmp_path):
    with pytest.raises(kiln.InvalidArgumentError, match="kiln_embedder_load"):
        kiln.Embedder(tmp_path / "nothing", ctx=kiln.Context("cpu"))
    with pytest.raises(TypeError, match="kiln.Context"):
        kiln.Embedder(tmp_path, ctx="cpu")
