"""Other orchestrators' APIs over shoal's objects, each a thin HTTP surface that reaches the cluster through client."""
