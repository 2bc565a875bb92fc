"""shoal's control-plane benchmarks (``make bench``); see docs/benchmarks.md."""
