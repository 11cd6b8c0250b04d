"""What an import did: rows written, records rejected and why."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from paperfeed.store.writer import SaveResult


@dataclass(frozen=True)
class Rejection:
    """One record or file that was not imported: where it is and what is wrong with it."""

    where: str  # file, file:line, file#index or a record id
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class IngestReport:
    """The outcome of one ingest run."""

    saved: SaveResult = field(default_factory=SaveResult)
    rejected: list[Rejection] = field(default_factory=list)
    skipped_sources: list[str] = field(default_factory=list)  # already imported, unchanged

    def reject(self, where: str, problem: str) -> None:
        self.rejected.append(Rejection(where, problem))

    @property
    def ok(self) -> bool:
        """Whether every record was imported."""
        return not self.rejected



def explain(error: Exception) -> str:
    """One line saying what is wrong with a record, from a validation or type error."""
    if isinstance(error, ValidationError):
        model = error.title.lower()
        return "; ".join(
            f"{model} {'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors()
        )
    return str(error).splitlines()[0] if str(error) else type(error).__name__
