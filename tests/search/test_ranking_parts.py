"""The parts of ranking: the vector index (exact and IVF) and fusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paperfeed.search import lexical
from paperfeed.search.fusion import Fusion, fuse
from paperfeed.search.vectors import ann as vectors


def _clustered(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 centres, shaped like sentence embeddings rather than noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
    data = centres[rng.integers(0, 50, count)] + 0.6 * rng.normal(size=(count, dim))
    data = data.astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def _index(data: np.ndarray, ivf: bool) -> vectors.VectorIndex:
    ids = np.asarray([f"p{i}" for i in range(len(data))])
    keys = np.asarray([lexical.paper_key(i) for i in ids], dtype=np.int64)
    return vectors.VectorIndex(
        "test", ids, keys, data, vectors.train_ivf(data) if ivf else None, "m"
    )


def test_ivf_with_exact_rescoring_finds_the_exact_neighbours() -> None:
    data = _clustered(20_000, 64)
    queries = _clustered(100, 64, seed=1)
    exact, approximate = _index(data, ivf=False), _index(data, ivf=True)

    recall = []
    for query in queries:
        truth = exact.search(query, 10)
        found = approximate.search(query, 10)
        recall.append(len({i for i, _ in truth} & {i for i, _ in found}) / 10)
        assert found[0][1] == pytest.approx(truth[0][1], abs=1e-5)  # scores are exact
    assert np.mean(recall) >= 0.97


def test_vector_index_on_disk_and_lookups(tmp_path: Path) -> None:
    data = _clustered(500, 16)
    ids = [f"p{i}" for i in range(500)]
    keys = [lexical.paper_key(i) for i in ids]
    vectors.build(tmp_path / "v", "model-x", ids, keys, data, "marker-1")

    index = vectors.load(tmp_path / "v")

    assert index is not None and len(index) == 500 and index.dim == 16
    assert index.model == "model-x" and index.marker == "marker-1"
    assert index.search(data[7], 1)[0][0] == "p7"
    assert list(index.rows_of_keys([keys[3], 12345, keys[9]])) == [3, 9]
    assert [i for i, _ in index.score_ids(data[7], ["p7", "nope"])] == ["p7"]
    assert index.has_vector("p1") and not index.has_vector("nope")
    assert vectors.load(tmp_path / "missing") is None


def test_weighted_fusion_keeps_a_runaway_bm25_winner_first() -> None:
    bm25 = [("title-match", 100.0), ("b", 20.0), ("c", 19.0)]
    dense = [("b", 0.6), ("c", 0.55), ("title-match", 0.5), ("d", 0.5)]

    ranked = [i for i, _ in fuse(bm25, dense, Fusion())]

    assert ranked[0] == "title-match"
    assert set(ranked) == {"title-match", "b", "c", "d"}


def test_fusion_does_not_bury_papers_without_a_vector() -> None:
    bm25 = [("new", 50.0), ("old", 10.0)]
    dense = [("old", 0.4)]

    ranked = fuse(bm25, dense, Fusion(), has_vector=lambda paper_id: paper_id != "new")

    assert [i for i, _ in ranked] == ["new", "old"]


def test_reciprocal_rank_fusion() -> None:
    ranked = fuse([("a", 3.0), ("b", 2.0)], [("b", 0.9), ("c", 0.8)], Fusion("rrf", 1.0, 1.0))

    assert [i for i, _ in ranked] == ["b", "a", "c"]


def _lexical_top(papers: list[tuple[str, str, str]], query: str) -> list[str]:
    """BM25 ranking of a query over papers (id, title, abstract) in an in-memory index."""
    from paperfeed.domain import Paper

    index = lexical.memory_index(
        Paper(arxiv_id=arxiv_id, title=title, abstract=abstract)
        for arxiv_id, title, abstract in papers
    )
    text_query, _terms = lexical.text_query(query)
    assert text_query is not None
    return [paper_id for paper_id, _ in lexical.search(index, text_query, 10)]


FILLER = [
    (f"2601.{i:05d}", f"Unrelated study number {i} of graph colouring",
     "We colour graphs with few colours and prove bounds on chromatic numbers.")
    for i in range(30)
]


def test_a_topical_query_finds_the_paper_about_it_before_one_sharing_a_title_word() -> None:
    # The paper about the query has its words in the abstract, none in the title; the other has
    # one query word in its title, in another sense. With the title weighted far above the
    # abstract (the old x3 field boost) the second came first.
    about = ("2602.00001", "Shrinking networks after the fact",
             "We compress a trained network without any retraining, using post-training "
             "quantization and pruning so that it fits on a phone while keeping its accuracy "
             "on the original task.")
    title_word = ("2602.00002", "Retraining radiologists",
                  "We study a problem of chest images and collect a new dataset of scans, "
                  "labelled by experts over two years.")
    ranking = _lexical_top([*FILLER, about, title_word], "compress without retraining")

    assert ranking[:2] == [about[0], title_word[0]]


def _lexical_scores(papers: list, query: str, boosts: dict | None = None) -> list[tuple]:
    """BM25 (id, score) of a query over Paper objects in an in-memory index, best first."""
    index = lexical.memory_index(papers)
    text_query, _terms = lexical.text_query(query, boosts=boosts or lexical.FIELD_BOOSTS)
    assert text_query is not None
    return lexical.search(index, text_query, 10)


def test_a_paper_is_found_by_a_word_only_in_its_ai_keywords() -> None:
    from paperfeed.domain import Paper

    filler = [Paper(arxiv_id=i, title=t, abstract=a) for i, t, a in FILLER]
    keyworded = Paper(
        arxiv_id="2602.00003", title="Small students of large teachers",
        abstract="A compact network learns to imitate the outputs of a much larger one.",
        ai_keywords=["knowledge distillation", "teacher-student training"],
    )  # fmt: skip

    found = _lexical_scores([*filler, keyworded], "distillation")

    assert [paper_id for paper_id, _ in found] == ["2602.00003"]


def test_ai_keywords_put_the_paper_about_a_word_before_one_that_mentions_it() -> None:
    from paperfeed.domain import Paper

    filler = [Paper(arxiv_id=i, title=t, abstract=a) for i, t, a in FILLER]
    abstract = ("We study language models on long documents, with a section on quantization "
                "of the weights and another on the retrieval of passages.")  # fmt: skip
    mentions = Paper(arxiv_id="2602.00004", title="Long documents", abstract=abstract)
    about = Paper(
        arxiv_id="2602.00005", title="Long documents", abstract=abstract,
        ai_keywords=["weight quantization", "language models"],
    )  # fmt: skip
    papers = [*filler, mentions, about]

    ranked = _lexical_scores(papers, "quantization")
    without = _lexical_scores(papers, "quantization", dict(lexical.FIELD_BOOSTS, keywords=0.0))

    assert [paper_id for paper_id, _ in ranked] == ["2602.00005", "2602.00004"]
    assert without[0][1] == pytest.approx(without[1][1])  # the keywords alone break the tie
    # a light weight: a keyword match adds less than the same word in the paper's own text
    assert ranked[0][1] - ranked[1][1] < ranked[1][1]


def test_an_index_of_an_older_schema_is_detected(tmp_path: Path) -> None:
    import tantivy

    old = tantivy.SchemaBuilder()
    old.add_text_field("id", stored=True, tokenizer_name="raw")
    old.add_text_field("title")
    tantivy.Index(old.build(), path=str(tmp_path))

    assert not lexical.schema_matches(tmp_path)
    fresh = tmp_path / "fresh"
    lexical.open_index(fresh)
    assert lexical.schema_matches(fresh)


def test_a_short_query_is_expanded_by_the_papers_fusion_puts_first() -> None:
    from paperfeed.evals.harness import Doc, EvalCorpus
    from paperfeed.search.service import FEEDBACK_PAPERS, feedback_for

    docs = [
        Doc("a", "Speculative decoding with draft models", "Draft tokens verified in parallel."),
        Doc("b", "Faster speculative decoding", "Tree drafts for speculative decoding."),
        Doc("c", "Lookahead sampling for LLM inference", "Guess several tokens, then check."),
        Doc("d", "Protein folding at scale", "Structure prediction for proteins."),
    ]
    unit = lambda v: np.asarray(v, dtype=np.float32) / np.linalg.norm(v)  # noqa: E731
    matrix = np.stack([unit([1, 0, 0]), unit([0.9, 0.1, 0]), unit([1, 0.05, 0]), unit([0, 0, 1])])
    corpus = EvalCorpus(docs, matrix, "test")
    text_query, _ = lexical.text_query("speculative decoding")
    query = unit([0.7, 0, 0.714])  # a vague query vector, a bit nearer the unrelated "d" than "c"

    plain = corpus.rankings(text_query, query, depth=10)["hybrid"]
    expanded = corpus.rankings(text_query, query, depth=10, feedback=2)["hybrid"]

    assert set(plain[:2]) == set(expanded[:2]) == {"a", "b"}
    assert plain.index("d") < plain.index("c")  # by the query's vector alone, "d" comes first
    assert expanded.index("c") < expanded.index("d")  # like the top papers: "c" now does
    assert feedback_for("speculative decoding") == FEEDBACK_PAPERS
    assert feedback_for("ways to make a trained model smaller without retraining") == 0


NAMES = ["LoRA", "GPT-4o", "DPO", "Mamba-2", "ControlNet", "3DGS", "T5", "YOLOv8", "ViT",
         "Qwen2.5-VL", "Reflect-DiT", "(LoRA)", '"MoE"', "CLIP,"]  # fmt: skip
NOT_NAMES = ["diffusion", "Mamba", "Transformers", "self-supervised", "classifier-free",
             "Cold-Start", "3D", "7B", "2024", "x", "", "?", "--", "speculative"]  # fmt: skip


@pytest.mark.parametrize("word", NAMES)
def test_method_names_and_acronyms_are_name_shaped(word: str) -> None:
    from paperfeed.search.service import is_name_query, name_shaped

    assert name_shaped(word)
    assert is_name_query(word)
    assert is_name_query(f"  {word} ")


@pytest.mark.parametrize("word", NOT_NAMES)
def test_ordinary_words_are_not_name_shaped(word: str) -> None:
    from paperfeed.search.service import is_name_query, name_shaped

    assert not name_shaped(word)
    assert not is_name_query(word)


@pytest.mark.parametrize(
    "query",
    ["LLM agents", "LoRA merging", "GUI grounding", "speculative decoding", "3D reconstruction",
     "how does LoRA work?", "methods like DPO for aligning language models"],
)  # fmt: skip
def test_only_a_name_alone_is_routed_as_a_name(query: str) -> None:
    from paperfeed.search.fusion import DEFAULT
    from paperfeed.search.service import is_name_query, route

    assert not is_name_query(query)
    assert route(query)[0] == DEFAULT


def test_questions_get_feedback_and_descriptions_do_not() -> None:
    from paperfeed.search.service import FEEDBACK_PAPERS, feedback_for, is_question

    questions = [
        "how can hallucinations in summaries be detected",
        "do vision transformers need more data than convolutional networks?",
        "Is chain of thought faithful to what the model computes",
        "which optimizers train large language models fastest",
        "pruning a network after training without losing accuracy?",
    ]
    descriptions = [
        "ways to make a trained model smaller without retraining",
        "robot policies that learn by predicting future video frames",
        "Howard's method for recursive partitioning of large graphs",
        "a benchmark where agents do tasks in a simulated office",
    ]
    for text in questions:
        assert is_question(text)
        assert feedback_for(text) == FEEDBACK_PAPERS
    for text in descriptions:
        assert not is_question(text)
        assert feedback_for(text) == 0
    assert not is_question("how")  # one word is a keyword query (short: feedback anyway)


def test_a_method_name_finds_the_paper_with_it_in_its_title_first() -> None:
    """Names are words and the vectors add noise there: a query vector nearer an unrelated
    paper ("c") would put it first at the default weights; the name's route does not."""
    from paperfeed.evals.harness import Doc, EvalCorpus
    from paperfeed.search.fusion import DEFAULT
    from paperfeed.search.service import route

    docs = [
        Doc("a", "LoRA: Low-Rank Adaptation of Large Language Models",
            "We freeze the pretrained weights and train low-rank matrices: LoRA."),
        Doc("b", "Parameter-efficient fine-tuning compared",
            "Adapters, prefix tuning and LoRA on twelve tasks; adapters and LoRA tie."),
        Doc("c", "Fine-tuning large models on one GPU", "Quantized optimizers and offloading."),
        Doc("d", "Protein folding at scale", "Structure prediction for proteins."),
    ]  # fmt: skip
    unit = lambda v: np.asarray(v, dtype=np.float32) / np.linalg.norm(v)  # noqa: E731
    matrix = np.stack([unit([0.3, 1, 0]), unit([0.5, 1, 0]), unit([1, 0.2, 0]), unit([0, 0, 1])])
    corpus = EvalCorpus(docs, matrix, "test")
    text_query, _ = lexical.text_query("LoRA")
    query = unit([1, 0.1, 0])  # nearest "c", which never says LoRA

    lexical_ranking = corpus.rankings(text_query, query, depth=10)["bm25"]
    plain = corpus.rankings(text_query, query, depth=10, fusion=DEFAULT)["hybrid"]
    fusion, feedback = route("LoRA")
    routed = corpus.rankings(text_query, query, depth=10, fusion=fusion, feedback=feedback)

    assert lexical_ranking[:2] == ["a", "b"]
    assert plain[0] == "c"  # the default weights follow the vector
    assert fusion != DEFAULT
    assert routed["hybrid"][0] == "a"
