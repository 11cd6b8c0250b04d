"""The code's structure checks itself: the README's map, the settings table, the import rule."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from paperfeed.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "paperfeed"
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Layers, lowest first: a module may import its own layer's modules and lower layers' only
# (features may import each other, without cycles; web and cli never import each other).
BASE = {"__init__", "domain", "settings", "logs", "hf_api", "core"}
STORE = {"store"}
FEATURES = {"ingest", "feed", "syndication", "rank", "search", "community", "digest", "evals"}
SHELLS = {"web", "cli"}
ALLOWED = {
    **{name: BASE for name in BASE},
    "store": BASE - {"settings", "logs", "hf_api"} | STORE,
    **{name: BASE | STORE | FEATURES for name in FEATURES},
    "web": BASE | STORE | FEATURES | {"web"},
    "cli": BASE | STORE | FEATURES | {"cli"},
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _top(path: Path) -> str:
    """The top-level part of paperfeed a module belongs to: 'search', 'domain', ..."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """The top-level parts of paperfeed this module imports (absolute or relative)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            elif node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for name in names:
            parts = name.split(".")
            inside = parts[0] == "paperfeed" and len(parts) > 1
            if inside and ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
                found.add(parts[1])
    return found


def test_every_package_and_top_module_is_on_the_readme_map() -> None:
    layout = README[README.index("## Layout") :]
    listed = set(re.findall(r"^\| `([a-z_]+)(?:/|\.py)` \|", layout, flags=re.MULTILINE))
    present = {
        p.name.removesuffix(".py")
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").is_file()) or (p.suffix == ".py")
    } - {"__init__"}
    assert present - listed == set(), "packages missing from the README's layout map"
    assert listed - present == set(), "the README's layout map names packages that do not exist"
    assert present <= set(ALLOWED), "a new package needs a place in the import rule"


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [
        name for name in Settings.model_fields if f"PAPERFEED_{name.upper()}" not in README
    ]
    assert missing == [], f"settings missing from the README's configuration table: {missing}"


def test_lower_layers_never_import_higher_ones() -> None:
    problems = []
    for path in _modules():
        top = _top(path)
        for imported in _imports(path) - ALLOWED[top]:
            problems.append(f"{path.relative_to(PACKAGE)} imports paperfeed.{imported}")
    assert problems == []


def test_features_do_not_import_each_other_in_a_cycle() -> None:
    edges: dict[str, set[str]] = {name: set() for name in FEATURES}
    for path in _modules():
        top = _top(path)
        if top in FEATURES:
            edges[top] |= (_imports(path) & FEATURES) - {top}

    def cycle_from(start: str, node: str, seen: tuple[str, ...]) -> tuple[str, ...] | None:
        for after in sorted(edges[node]):
            if after == start:
                return (*seen, after)
            if after not in seen:
                found = cycle_from(start, after, (*seen, after))
                if found:
                    return found
        return None

    for feature in sorted(FEATURES):
        assert cycle_from(feature, feature, (feature,)) is None


def test_every_module_says_its_job_in_a_docstring() -> None:
    missing = []
    for path in _modules():
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if not docstring or not docstring.splitlines()[0].strip():
            missing.append(str(path.relative_to(PACKAGE)))
    assert missing == []


def test_the_import_checker_sees_relative_and_absolute_imports() -> None:
    # digest/service.py uses both forms; the checker must see both, or the rule checks nothing.
    service = _imports(PACKAGE / "digest" / "service.py")
    assert {"digest", "store", "core", "rank"} <= service
