"""Link owners read from abstracts (rank/links.py), on sentences of real arXiv abstracts."""

from __future__ import annotations

from paperfeed.rank import links


def test_code_and_project_page_owners_are_read_whole_and_lower_cased() -> None:
    # endings of abstracts in the shared arXiv snapshot
    assert links.owners(
        "risk predictions. Code is available at: https://github.com/DeepRCL/Prost-RL."
    ) == {"github:deeprcl"}
    assert links.owners(
        "Project page: https://ai4city-hkust.github.io/Sat2City-v2/"
    ) == {"github:ai4city-hkust"}  # a project page is its GitHub owner's
    assert links.owners(
        "We released the data at (https://huggingface.co/datasets/QCRI/SpokenNativQA) and the "
        "experimental scripts at (https://llmebench.qcri.org/) for the research community."
    ) == {"hf:qcri", "llmebench.qcri.org"}
    assert links.owners(
        "Resources: \\href{https://github.com/1Reminding/Skill_EE}{SkillEE}."
    ) == {"github:1reminding"}
    assert links.owners(
        "and model checkpoints are available at: "
        "https://github.com/instadeepai/InstaGeo-E2E-Geospatial-ML.git"
    ) == {"github:instadeepai"}


def test_hosts_anyone_uses_and_things_that_only_look_like_addresses_give_nothing() -> None:
    assert links.owners("Code: https://anonymous.4open.science/r/Fast-3D1C") == set()
    assert links.owners("See https://doi.org/10.5281/zenodo.1234 and https://youtu.be/x") == set()
    assert links.owners("Qwen2.5-VL-3B, e.g. 1.5B/7B models, and the U.S. data") == set()
    assert links.owners("An abstract without any link.") == set()


def test_owners_are_shown_as_a_reader_writes_them() -> None:
    assert links.shown("github:showlab") == "github.com/showlab"
    assert links.shown("hf:qcri") == "huggingface.co/qcri"
    assert links.shown("llmebench.qcri.org") == "llmebench.qcri.org"
