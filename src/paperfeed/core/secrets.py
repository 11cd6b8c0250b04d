"""The site secret that signs session cookies and mailed links: configured, or made once."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from paperfeed.settings import Settings

SECRET_FILE = "secret_key"  # in the data folder, mode 0600


def site_secret(settings: Settings) -> str:
    """PAPERFEED_SECRET_KEY, else the key generated once into the home folder (mode 0600).

    Every process of a site (web workers, the CLI, the digest sender) reads the same key, so a
    link mailed by one is accepted by another; several nodes share it through the setting.
    """
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    path = Path(settings.home) / SECRET_FILE
    if not path.exists():
        settings.ensure_home()
        try:  # O_EXCL: of several processes starting at once, exactly one writes the key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(48))
    for _attempt in range(50):  # the writer may be between creating and writing it
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.05)
    raise RuntimeError(f"the secret key file {path} is empty")
