"""The audit log: who did what to which object, when, and what the server answered.

``policy`` reads upstream's ``audit.k8s.io/v1`` Policy and decides, per
request, the level (None, Metadata, Request, RequestResponse) and the stages
left out (pure); ``event`` builds upstream's ``audit.k8s.io/v1`` Event of a
stage (pure) and ``line`` makes its JSON line for less (pure); ``logfile``
writes the lines to a file with size rotation, each before its request goes
on (blocking mode) or in batches from a bounded buffer (batch); ``recorder`` is what
the request pipeline calls: ``begin`` when a request arrives, ``authorized``
when it is decided on, ``started`` when a long-running answer starts, and
``finish`` when it ends.
"""
