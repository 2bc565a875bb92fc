"""The only way components other than the API server reach the cluster."""

from shoal.client.api import ApiClient, WatchEvent, object_path, resource
from shoal.client.errors import ApiException, is_already_exists, is_conflict, is_not_found
from shoal.client.httptransport import HttpTransport, UnixSocketTransport
from shoal.client.informer import Informer, InformerFactory, key_of, split_key
from shoal.client.transport import StreamResponse, Transport
from shoal.client.workqueue import WorkQueue, run_worker, run_workers

__all__ = [
    "ApiClient", "ApiException", "HttpTransport", "Informer", "InformerFactory", "StreamResponse", "Transport",
    "UnixSocketTransport", "WatchEvent", "WorkQueue",
    "is_already_exists", "is_conflict", "is_not_found", "key_of", "object_path", "resource",
    "run_worker", "run_workers", "split_key",
]
