"""shoal.promlite: lock-free counters and histograms, exposed as prometheus-client families."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from shoal.promlite import CounterFamily, Families, HistogramFamily


def test_exposition_is_prometheus_text() -> None:
    c = CounterFamily("things", "Things.", ["kind"])
    h = HistogramFamily("took_seconds", "Time.", ["kind"], buckets=(0.1, 1.0))
    c.labels("a").inc()
    c.labels("a").inc(2)
    for v in (0.05, 0.1, 0.5, 3.0):
        h.labels("a").observe(v)
    reg = CollectorRegistry()
    reg.register(Families(c, h))
    text = generate_latest(reg).decode()
    assert 'things_total{kind="a"} 3.0' in text
    assert 'took_seconds_bucket{kind="a",le="0.1"} 2.0' in text  # le is inclusive
    assert 'took_seconds_bucket{kind="a",le="1.0"} 3.0' in text
    assert 'took_seconds_bucket{kind="a",le="+Inf"} 4.0' in text
    assert 'took_seconds_count{kind="a"} 4.0' in text and 'took_seconds_sum{kind="a"} 3.65' in text
