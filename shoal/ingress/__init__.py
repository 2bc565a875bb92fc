"""shoal's ingress: Ingress, Gateway API routes and progressive delivery, served by a real HAProxy per node.

Pure parts: ``model`` (the proxy's configuration as typed values), ``backends``
(Services + Endpoints -> weighted servers), ``ingressroutes`` and
``gatewayroutes`` (objects -> routes), ``haproxycfg`` (routes -> haproxy.cfg
text), ``rolloutplan`` (the canary / blue-green step machine). I/O at the
edges: ``haproxy`` (the proxy process, hot reload, runtime API, counters),
``node`` (informers, sync, status and events), ``rollouts`` (the Rollout
controller), ``crds`` (the CRDs and classes shoal installs at startup).
"""
