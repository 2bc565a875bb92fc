"""The API server's side of CustomResourceDefinitions: the controller that serves, establishes and
cleans up the kinds CRDs define (``controller``). The strategies are in ``shoal.apiserver.strategies``
(``apiextensions`` for CRDs, ``customresource`` for every custom kind); the schema machinery itself is
pure, in ``shoal.api.crd``."""
