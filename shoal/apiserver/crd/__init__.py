"""The API server's side of CustomResourceDefinitions: the strategies of CRDs and of custom
resources (``strategy``), and the controller that serves, establishes and cleans up the kinds
CRDs define (``controller``). The schema machinery itself is pure, in ``shoal.api.crd``."""
