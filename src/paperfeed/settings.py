"""The one typed settings object, read from PAPERFEED_* variables and an optional TOML file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
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

    def ensure_home(self) -> Path:
        """Create the data directory if needed and return it."""
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
