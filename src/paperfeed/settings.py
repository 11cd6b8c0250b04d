"""The one typed settings object, read from PAPERFEED_* variables and an optional TOML file."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _settings_file() -> Path:
    """The settings file: PAPERFEED_SETTINGS_FILE, else paperfeed.toml in PAPERFEED_HOME."""
    explicit = os.environ.get("PAPERFEED_SETTINGS_FILE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("PAPERFEED_HOME", "paperfeed-data")) / "paperfeed.toml"


class Settings(BaseSettings):
    """Everything an operator can configure; environment variables win over the file."""

    model_config = SettingsConfigDict(env_prefix="PAPERFEED_", extra="ignore")

    home: Path = Field(default=Path("paperfeed-data"), description="Data directory.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; default: SQLite file paperfeed.db in the home."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = Field(default="", description="Public URL of the site, for absolute links.")
    site_name: str = "paperfeed"
    page_size: int = Field(default=50, ge=1, le=500, description="Cards per feed page.")
    hf_endpoint: str = Field(
        default="https://huggingface.co", description="Hugging Face API for live daily papers."
    )
    oai_url: str = Field(
        default="https://oaipmh.arxiv.org/oai", description="arXiv OAI-PMH base URL."
    )
    http_delay_s: float = Field(
        default=3.0, ge=0, description="Politeness delay between requests to one remote server."
    )
    http_timeout_s: float = Field(default=60.0, gt=0)
    http_retries: int = Field(default=5, ge=0, description="Retries of a failed remote request.")
    log_level: str = "WARNING"
    # --- accounts, submissions, trending (issue 4) ---
    arxiv_api_url: str = Field(
        default="https://export.arxiv.org/api/query",
        description="arXiv API, for the metadata of a submitted paper not stored yet.",
    )
    session_days: int = Field(default=14, ge=1, description="How long a log-in lasts.")
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (set behind TLS)."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed log-ins per username and address within the window."
    )
    login_window_minutes: int = Field(default=15, ge=1)
    rate_limits: dict[str, str] = Field(
        default_factory=dict,
        description='Rate limits overriding the defaults, e.g. {"comment.user": "20/1h"} '
        "(community/limits.py lists them).",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body taken (413 beyond)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For is believed.",
    )
    submit_max_age_days: int = Field(
        default=7, ge=0, description="Oldest paper (days since first version) one may submit."
    )
    submit_daily_cap: int = Field(default=5, ge=0, description="Submissions per user per day.")
    trending_gravity: float = Field(
        default=1.8, gt=0, description="How fast a paper's trending score decays with age."
    )
    trending_days: int = Field(default=7, ge=1, description="Days of daily lists /trending ranks.")
    # --- digests: mail delivery and schedule (issue 5) ---
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs tokens in links; default: generated once into the home.",
    )
    smtp_host: str = Field(default="localhost", description="SMTP server for outgoing mail.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    smtp_retries: int = Field(
        default=5, ge=1, description="Tries of one mail on transient SMTP errors, per run."
    )
    smtp_retry_wait_s: float = Field(
        default=2.0, ge=0, description="First wait between tries; doubles, at most 60 s."
    )
    mail_from: str = Field(
        default="paperfeed <paperfeed@localhost>", description="From address of every mail."
    )
    digest_send_time: str = Field(
        default="07:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="UTC time (HH:MM) the built-in schedule sends the digests.",
    )
    digest_schedule: bool = Field(
        default=False,
        description="Send the digests at the send time: inside `paperfeed serve`, or in "
        "`paperfeed worker` with the job queue.",
    )
    # --- web workers (issue 12) ---
    # Measured on 2 cores, mixed workload, 50 connections: 40 threads (Starlette's default) 347
    # to 446 req/s at 4.9-5.0 ms of CPU a request; 2 threads 573-662 req/s at 2.8-3.3 ms.
    request_threads: int = Field(
        default=2,
        ge=1,
        le=200,
        description="Requests a worker works on at once (the others wait their turn, first come "
        "first served); more only contend for the interpreter lock on this CPU-bound site. "
        "Raise it when the database is far away (PostgreSQL over a network).",
    )
    # --- page cache (issue 12) ---
    paper_cache_papers: int = Field(
        default=100_000,
        ge=1,
        description="Stored papers each worker keeps as pages show them (about 7.8 KB each: "
        "all 80,017 shared papers take about 620 MB a worker); lower it on a small machine.",
    )
    page_cache_mb: int = Field(
        default=64, ge=0, description="Rendered anonymous pages kept per worker, in MB (0: off)."
    )
    page_cache_max_age_s: float = Field(
        default=60.0, gt=0, description="Longest a cached page is served (trending ages with time)."
    )
    # 0: one indexed read per cached answer, so a write on any node shows on the next page
    site_version_check_s: float = Field(
        default=0.0, ge=0, description="How often a worker rereads the site version (0: always)."
    )
    # --- search: embeddings (issue 3) ---
    embedding_model: Literal["minilm", "static", "mpnet"] = Field(
        default="minilm",
        description="Embedding model of papers and queries: minilm, static (model2vec), or "
        "mpnet (all-mpnet-base-v2: better, ~8x the compute; the `mpnet` extra, a GPU advised).",
    )
    embed_fast_tier: bool = Field(
        default=True,
        description="With minilm or mpnet: give every paper a static (model2vec) vector first, "
        "so search by meaning covers every paper within minutes; the configured model takes over "
        "once it covers them all.",
    )
    embed_in_background: bool = Field(
        default=True,
        description="Embed new and changed papers in a background thread of `paperfeed serve` "
        "(with the job queue, `paperfeed worker` embeds instead).",
    )
    embed_threads: int = Field(
        default=1, ge=0, description="CPU threads of the background embedder (0: all cores)."
    )
    embed_precision: Literal["auto", "f32", "bf16"] = Field(
        default="auto",
        description="Arithmetic of MiniLM on CPU for papers (OpenVINO): auto is bf16 where the "
        "CPU multiplies bf16 natively (about 1.7x fp32; cosine 0.99997 to the fp32 vectors), "
        "else f32.",
    )
    embed_batch_size: int = Field(
        default=4, ge=1, le=4096, description="Texts per model batch of the background embedder."
    )
    embed_poll_s: float = Field(
        default=30.0, gt=0, description="Seconds the background embedder waits when idle."
    )
    # --- several nodes: the job queue and search replicas (issue 12) ---
    job_queue: bool | None = Field(
        default=None,
        description="Run background work (ingest schedules, embedding, digests, mail) on the "
        "PostgreSQL job queue, in `paperfeed worker`; web nodes then start no background threads "
        "and keep their search indexes as replicas of the database. Default: on for PostgreSQL, "
        "off for SQLite.",
    )
    queue_heartbeat_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between a worker's heartbeats; after three missed, its job is "
        "handed to another worker.",
    )
    replica_poll_s: float = Field(
        default=5.0, gt=0, description="Seconds between a node's looks for changed papers."
    )
    replica_vectors_every_s: float = Field(
        default=20.0, ge=0, description="Least seconds between rebuilds of a node's vector index."
    )
    ingest_live: bool = Field(
        default=False,
        description="With the job queue: fetch the Hugging Face daily list hourly (live source).",
    )
    # --- search: indexes and ranking (issue 3) ---
    search_dense: bool = Field(
        default=True,
        description="Rank with paper vectors as well as BM25 (off: BM25 only, no model loaded).",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.home / 'paperfeed.db').resolve()}"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_settings_file())
        return (init_settings, env_settings, toml)

    @property
    def public_url(self) -> str:
        """The site's address for absolute links: base_url, else where `serve` listens.

        Never the request's Host header, which the client chooses (feeds and mails carry links).
        """
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def uses_job_queue(self) -> bool:
        """Whether background work runs on the job queue (setting, else: on PostgreSQL)."""
        if self.job_queue is not None:
            return self.job_queue
        return self.database_url.startswith("postgresql")

    @property
    def https(self) -> bool:
        """Whether the site is served over https (its base URL says so)."""
        return self.base_url.lower().startswith("https://")

    def ensure_home(self) -> Path:
        """Create the data directory if needed and return it, private to the site's user.

        The process's umask becomes 077, so every file paperfeed creates (the SQLite database
        and its -wal and -shm files, indexes, models, the secret) is 0600 and every folder 0700;
        what an older version left in the folder's top level is made so too.
        """
        os.umask(0o077)
        self.home.mkdir(parents=True, exist_ok=True)
        for path in (self.home, *self.home.iterdir()):
            if path.is_symlink():
                continue
            wanted = 0o700 if path.is_dir() else 0o600
            if path.stat().st_mode & 0o777 != wanted:
                path.chmod(wanted)
        return self.home


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
