"""kiln.Tokenizer on a small vocabulary written here, and on the real
all-MiniLM-L6-v2 files when scripts/fetch_model.sh has cached them."""

import os

import pytest

import kiln

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##ing", "play",
         "##ed", ",", "!"]


@pytest.fixture
def tok(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return kiln.Tokenizer(tmp_path)


def ids(*words):
    return [VOCAB.index(w) for w in words]


def test_encode(tok):
    assert tok.vocab_size == len(VOCAB)
    assert tok.encode("Hello, world!") == ids("[CLS]", "hello", ",", "world", "!", "[SEP]")
    assert tok.encode("playing played") == ids("[CLS]", "play", "##ing", "play", "##ed", "[SEP]")
    assert tok.encode("xyzzy") == ids("[CLS]", "[UNK]", "[SEP]")
    assert tok.encode("") == ids("[CLS]", "[SEP]")
    assert tok.encode("hello world hello", max_length=4) == ids("[CLS]", "hello", "world", "[SEP]")
    assert tok.token_id("##ing") == 7 and tok.token_id("nope") is None
    assert tok.token(5) == "hello" and tok.token(99) is None and tok.token(-1) is None


def test_errors(tmp_path, tok):
    with pytest.raises(kiln.InvalidArgumentError, match="kiln_tokenizer_load: model_dir .*missing"):
        kiln.Tokenizer(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(kiln.InvalidArgumentError, match="vocab.txt"):
        kiln.Tokenizer(tmp_path / "empty")
    with pytest.raises(kiln.InvalidArgumentError, match="max_length"):
        tok.encode("hello", max_length=1)
    assert tok.encode("hello".encode()) == tok.encode("hello")  # UTF-8 bytes are text too
    with pytest.raises(TypeError):
        tok.encode(5)


MODEL = os.path.join(os.environ.get("KILN_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kiln"),
    "models", "all-MiniLM-L6-v2")


@pytest.mark.skipif(not os.path.isfile(os.path.join(MODEL, "vocab.txt")),
                    reason="all-MiniLM-L6-v2 is not cached (scripts/fetch_model.sh)")
def test_minilm():
    tok = kiln.Tokenizer(MODEL)
    assert tok.vocab_size == 30522 and tok.max_length == 256
    got = tok.encode("Hello, World! Tokenizing naïve café")
    assert got[0] == tok.token_id("[CLS]") and got[-1] == tok.token_id("[SEP]")
    assert [tok.token(i) for i in got[1:4]] == ["hello", ",", "world"]
    assert "naive" in [tok.token(i) for i in got]  # accents stripped
