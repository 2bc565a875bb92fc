"""``--encryption-provider-config``: the store ``shoal server`` gives its API server.

A bad file stops the server with a message naming it (``SystemExit``),
before anything is read or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shoal.apiserver.encryption.config import ConfigError, EncryptionConfig, parse
from shoal.apiserver.encryption.store import EncryptedStore
from shoal.store.base import Store


def load(path: str) -> tuple[EncryptionConfig, dict[str, Any]]:
    """The parsed configuration at ``path`` and the document; ``ConfigError`` says what is wrong."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
        return parse(doc), doc
    except ImportError as e:  # secretbox without PyNaCl
        raise ConfigError(f"secretbox needs PyNaCl ({e})") from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(str(e)) from None


def wrap(store: Store, path: str | None) -> Store | EncryptedStore:
    if not path:
        return store
    try:
        config, _ = load(path)
    except ConfigError as e:
        raise SystemExit(f"shoal server: --encryption-provider-config {path}: {e}") from None
    return EncryptedStore(store, config)
