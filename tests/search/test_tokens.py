"""The tokenizer's shortcut for plain ASCII text gives the ids of the full tokenizer."""

from __future__ import annotations

import gzip
import itertools
import json
from typing import Any

import numpy as np
import pytest
from conftest import ARXIV_JSONL, HF_API_DIR

from paperfeed.search.embedding import paper_text
from paperfeed.search.embedding.build import shipped_model_dir
from paperfeed.search.embedding.tokens import (
    _plain_twin,
    encode_batch,
    load_tokenizer,
    padded_ids,
)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return load_tokenizer(shipped_model_dir())


def _full(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Ids as the library's own tokenizer gives them, normalizer and all."""
    return [e.ids for e in tokenizer.encode_batch(texts)]


def _real_texts() -> list[str]:
    """A fifth of the arXiv snapshot's papers and every title/summary of a month of daily papers."""
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 0, None, 5)]
    texts = [paper_text(r["title"], r["abstract"]) for r in records]
    for path in sorted(HF_API_DIR.glob("*.json"))[:30]:
        try:
            entries = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue  # the malformed files
        for entry in entries if isinstance(entries, list) else []:
            paper = entry.get("paper", {}) if isinstance(entry, dict) else {}
            texts.append(paper_text(str(paper.get("title", "")), str(paper.get("summary", ""))))
    return texts


def test_real_papers_get_the_ids_of_the_full_tokenizer(tokenizer: Any) -> None:
    texts = _real_texts()
    assert len(texts) > 14_000
    plain = sum(t.isascii() for t in texts)
    assert plain > 0.9 * len(texts) and plain < len(texts)  # both roads are taken
    assert [e.ids for e in encode_batch(tokenizer, texts)] == _full(tokenizer, texts)


@pytest.mark.parametrize(
    "text",
    [
        "Attention allocated to the [CLS] token",  # a special token in the raw text
        "the [cls] and [Sep] tokens, lowercase",
        "a\x0bvertical tab and a\x0cform feed",  # dropped by the normalizer, not split on
        "NUL\x00 and DEL\x7f and BEL\x07 inside",
        "tabs\tand\r\ncarriage returns\n\nand newlines",
        "Café, naïve résumé: accents stay",  # not ASCII: the full road
        "中文 characters are spaced",
        "UPPER case ACRONYMS like BERT, GPT-4o and LLaMA-3.1",
        "x" * 150 + " a word longer than WordPiece's limit becomes [UNK]",
        "",
        " ".join(["token"] * 400),  # truncated at the window
    ],
)
def test_awkward_texts_get_the_ids_of_the_full_tokenizer(tokenizer: Any, text: str) -> None:
    batch = [text, "plain ascii text beside it", text.upper()]
    assert [e.ids for e in encode_batch(tokenizer, batch)] == _full(tokenizer, batch)


def test_no_shortcut_for_a_padding_or_other_tokenizer(tokenizer: Any) -> None:
    from tokenizers import Tokenizer, normalizers

    assert _plain_twin(tokenizer) is not None
    padding = load_tokenizer(shipped_model_dir())
    padding.enable_padding(pad_id=0, pad_token="[PAD]", pad_to_multiple_of=8)
    assert _plain_twin(padding) is None
    other = Tokenizer.from_str(tokenizer.to_str())
    other.normalizer = normalizers.BertNormalizer(lowercase=False)
    assert _plain_twin(other) is None
    texts = ["Mixed Case Stays", "[CLS] here"]
    assert [e.ids for e in encode_batch(other, texts)] == _full(other, texts)
    # a tokenizer changed after its first use is looked at again
    changed = load_tokenizer(shipped_model_dir())
    assert _plain_twin(changed) is not None
    changed.enable_truncation(16)
    long = [" ".join(["word"] * 40)]
    assert [len(e.ids) for e in encode_batch(changed, long)] == [16]


def test_padded_ids_pad_as_the_tokenizer_would(tokenizer: Any) -> None:
    texts = ["a short one", "a somewhat longer text of several more words than that", "Café"]
    padding = load_tokenizer(shipped_model_dir())
    padding.enable_padding(pad_id=7, pad_token="[PAD]", pad_to_multiple_of=8)
    expected = np.array([e.ids for e in padding.encode_batch(texts)], dtype=np.int64)
    got = padded_ids(tokenizer, texts, pad_id=7)
    assert got.dtype == np.int64 and got.shape[1] % 8 == 0
    assert np.array_equal(got, expected)
