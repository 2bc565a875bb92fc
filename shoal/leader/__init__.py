"""Leader election through ``coordination.k8s.io/v1`` Leases, for the singletons of ``shoal server``.

``lease`` decides (pure: acquire, renew, wait, whether a leader may still act);
``elector`` reads and writes the Lease through ``shoal.client`` and runs a
component only while leading, its writes fenced by the renew deadline.
"""
