"""The cluster's identity: one UUID per cluster, so that clusters sharing a machine never touch each other.

Upstream's convention is followed: the cluster ID is the UID of the
``kube-system`` namespace, made once when the store is first used and kept in
the store with everything else (a backup carries it, several servers on one
store share it). The data dir keeps a copy (``cluster-id``), written at first
start, which says which cluster the data dir (its CA, tokens, agent state)
belongs to.

What carries it: every container and sandbox the agent makes (the label
``io.shoal.cluster``; the orphan sweep lists only its own cluster's), the
nftables tables of the service proxy (the table's name and comment), and the
cluster DNS (a node that finds the DNS address held asks the holder's cluster
before sharing it). So a second cluster on the same machine — a test cluster
beside a dev cluster — neither removes the first one's containers nor answers
its pods' DNS.

``check`` is the pure decision at start; ``ClusterMismatch`` is the refusal,
with a message that says which cluster is which and what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shoal.client import ApiClient
from shoal.datadir import write_private

LABEL = "io.shoal.cluster"  # on every container and sandbox the agent makes
FILE = "cluster-id"  # in the data dir
NAMESPACE = "kube-system"  # whose UID is the cluster ID
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ClusterMismatch(Exception):
    """The data dir (or a joining node) belongs to another cluster than the store (or the server) it was given."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The cluster ID to run with, and whether the data dir's copy must be (re)written."""

    cluster_id: str
    write: bool
    note: str = ""  # something worth a log line (a new store for a data dir that had a cluster)


def short(cluster_id: str) -> str:
    """Eight hex digits of the ID: enough to tell clusters on one machine apart, short enough for nft names."""
    return cluster_id.replace("-", "")[:8]


def valid(cluster_id: str) -> bool:
    return bool(_UUID.match(cluster_id))


def check(*, local: str | None, stored_before: str | None, stored: str, where: str, store: str,
          hint: str = "") -> Identity:
    """Decide which cluster this server runs, given the data dir's ID (``local``), the store's before this
    start (``stored_before``: None when the store had no cluster yet) and after it (``stored``).

    * a data dir without an ID takes the store's (first start, or a new server on a shared store);
    * a store that had no cluster yet makes a new one, whatever the data dir said (the state was reset:
      the old cluster is gone, and its containers are no longer this one's);
    * a store that holds another cluster than the data dir's is refused: the data dir (its CA, its tokens)
      belongs to that other cluster.
    """
    if local is None or local == stored:
        return Identity(stored, write=local is None)
    if stored_before is None:
        return Identity(stored, write=True, note=f"{where} belonged to cluster {local}, whose store is gone; "
                                                 f"{store} now holds a new cluster {stored}")
    hint = hint or f"use another --data-dir for that cluster, or point --store at the store of cluster {local}"
    raise ClusterMismatch(
        f"{where} belongs to cluster {local}, but {store} holds cluster {stored_before}: refusing to mix two "
        f"clusters ({hint})")


def owned(labels: dict[str, str], cluster_id: str) -> bool:
    """A container (or sandbox) with these labels is this cluster's: it carries its ID, or no cluster ID at
    all (made before containers carried one; another cluster of today labels its own)."""
    return labels.get(LABEL, cluster_id) == cluster_id


async def fetch(client: ApiClient) -> str:
    """The cluster ID, as the API serves it (the ``kube-system`` namespace's UID)."""
    ns = await client.get("namespaces", NAMESPACE)
    uid = str((ns.get("metadata") or {}).get("uid") or "")
    if not valid(uid):
        raise ClusterMismatch(f"the server's {NAMESPACE} namespace has no cluster ID (uid {uid!r})")
    return uid


def read(data_dir: Path) -> str | None:
    path = data_dir / FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not valid(text):
        raise ClusterMismatch(f"{path}: {text[:40]!r} is not a cluster ID (a UUID); remove the file to adopt "
                              f"the store's")
    return text


def write(data_dir: Path, cluster_id: str) -> None:
    write_private(data_dir / FILE, cluster_id + "\n", mode=0o644)
