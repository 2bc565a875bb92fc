"""The embedded etcd of ``shoal server --cluster-init`` / ``--server URL --token T`` (as k3s has).

``plan`` is pure (the member's URLs and etcd's command line, the join
protocol's bodies); ``certs`` issues the member's certificate from the cluster
CA; ``member`` runs Debian's etcd as a child process and changes membership
through etcd's cluster API; ``join`` is both sides of a server joining another.
"""
