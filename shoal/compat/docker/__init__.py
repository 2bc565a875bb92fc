"""The Docker Engine API's Swarm mode, for the ``docker`` CLI: services, tasks, nodes, secrets, configs, networks.

``app`` serves it on a Unix socket, ``backend`` reads and writes the cluster
through ``shoal.client``, ``snapshot`` computes the Swarm views of one read,
``logs`` streams pod logs as Docker's multiplexed stream; the translations
themselves are pure, in ``shoal.formats.swarm``.
"""
