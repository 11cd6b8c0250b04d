"""A paper's BibTeX citation, in the form arXiv's own export uses (@misc with eprint)."""

from __future__ import annotations

from paperfeed.domain import Paper


def bibtex(paper: Paper) -> str:
    """The @misc entry citing `paper`; fields paperfeed does not know are left out."""
    year = paper.published_at or paper.announced_on
    fields = [
        ("title", _value(" ".join(paper.title.split()))),
        ("author", " and ".join(_author(a.name) for a in paper.authors)),
        ("year", str(year.year) if year else None),
        ("eprint", paper.arxiv_id),
        ("archivePrefix", "arXiv"),
        ("primaryClass", _value(paper.primary_category) if paper.primary_category else None),
        ("doi", _value(paper.doi) if paper.doi else None),
        ("url", paper.abs_url),
    ]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@misc{{{paper.arxiv_id},\n{body}\n}}"


def _author(name: str) -> str:
    name = _value(" ".join(name.split()))
    # "and" inside a name (a collaboration) would split it into two authors: brace it.
    return f"{{{name}}}" if " and " in f" {name.lower()} " else name


def _value(text: str) -> str:
    """Text safe inside a braced BibTeX field.

    BibTeX counts braces even after a backslash, so balanced braces (LaTeX groups such as
    {BERT}) stay as they are and only unmatched ones are spelled as commands.
    """
    out: list[str] = []
    open_at: list[int] = []
    for char in text:
        if char == "{":
            open_at.append(len(out))
            out.append(char)
        elif char == "}" and open_at:
            open_at.pop()
            out.append(char)
        elif char == "}":
            out.append(r"\textbraceright{}")
        else:
            out.append(char)
    for index in open_at:
        out[index] = r"\textbraceleft{}"
    return "".join(out)
