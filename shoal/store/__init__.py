"""Key-value stores behind the apiserver: the Store protocol and its backends.

Import the protocol, value types and errors from here; get a backend with
``open_store(spec, data_dir=...)`` (``shoal.store.sqlite.SqliteStore`` and
``shoal.store.etcd.EtcdStore`` directly when a test needs options).
"""

from shoal.store.base import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    NotFoundError,
    Store,
    StoreError,
    StoreUnavailableError,
    WatchEvent,
    auto_compact,
    compact_keeping,
)
from shoal.store.open import open_store

__all__ = [
    "CompactedError",
    "ConflictError",
    "FutureRevisionError",
    "KeyExistsError",
    "KeyValue",
    "NotFoundError",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "WatchEvent",
    "auto_compact",
    "compact_keeping",
    "open_store",
]
