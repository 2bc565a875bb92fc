"""``--encryption-provider-config``: the store ``shoal server`` gives its API server.

A bad file stops the server with a message naming it (``SystemExit``),
before anything is read or written.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from shoal.apiserver.encryption.config import ConfigError, parse
from shoal.apiserver.encryption.store import EncryptedStore
from shoal.store.base import Store


def wrap(store: Store, path: str | None) -> Store | EncryptedStore:
    if not path:
        return store
    try:
        config = parse(yaml.safe_load(Path(path).read_text()))
    except ImportError as e:  # secretbox without PyNaCl
        raise SystemExit(f"shoal server: --encryption-provider-config {path}: secretbox needs PyNaCl ({e})") from None
    except (OSError, yaml.YAMLError, ConfigError) as e:
        raise SystemExit(f"shoal server: --encryption-provider-config {path}: {e}") from None
    return EncryptedStore(store, config)
