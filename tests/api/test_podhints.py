"""The pod annotations the agent honours (``shoal.api.podhints``): tables of text -> value or refusal."""

from __future__ import annotations

import pytest

from shoal.api.podhints import (
    UNLIMITED,
    Dependency,
    HintError,
    RestartBackoff,
    Ulimit,
    format_restart_backoff,
    format_start_after,
    format_ulimits,
    parse_restart_backoff,
    parse_start_after,
    parse_ulimits,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("1s,1.15,300s", RestartBackoff(1, 1.15, 300)),
    ("0.5, 2, 10", RestartBackoff(0.5, 2, 10)),
    ("0s,1,0s", RestartBackoff(0, 1, 0)),
    (" 3 s , 1.5 , 60 s ", RestartBackoff(3, 1.5, 60)),
])
def test_restart_backoff_parses(text: str, expected: RestartBackoff) -> None:
    assert parse_restart_backoff(text) == expected
    assert parse_restart_backoff(format_restart_backoff(expected)) == expected


@pytest.mark.parametrize(("text", "needle"), [
    ("1s,2", "'<base>s,<factor>,<max>s'"),
    ("1s,2,3s,4", "'<base>s,<factor>,<max>s'"),
    ("-1s,2,3s", "base delay"),
    ("1m,2,3s", "base delay"),
    ("1s,0.5,3s", "factor must be 1 or more"),
    ("1s,x,3s", "not a number"),
    ("1s,nan,3s", "factor must be 1 or more"),
    ("1s,2,", "max delay"),
])
def test_restart_backoff_refuses(text: str, needle: str) -> None:
    with pytest.raises(HintError, match="shoal.io/restart-backoff") as e:
        parse_restart_backoff(text)
    assert needle in str(e.value)


def test_restart_backoff_formats_as_written() -> None:
    assert format_restart_backoff(RestartBackoff(1, 1.15, 300)) == "1s,1.15,300s"
    assert format_restart_backoff(RestartBackoff(0.5, 2, 3600)) == "0.5s,2,3600s"


@pytest.mark.parametrize(("text", "expected"), [
    ("main: nofile=1024:2048", {"main": (Ulimit("nofile", 1024, 2048),)}),
    ("main: nofile=1024, nproc=unlimited; side: core=0:-1",
     {"main": (Ulimit("nofile", 1024, 1024), Ulimit("nproc", UNLIMITED, UNLIMITED)),
      "side": (Ulimit("core", 0, UNLIMITED),)}),
    ("", {}),
    ("main: ;", {"main": ()}),
])
def test_ulimits_parse(text: str, expected: dict[str, tuple[Ulimit, ...]]) -> None:
    assert parse_ulimits(text) == expected
    assert parse_ulimits(format_ulimits(expected)) == {k: v for k, v in expected.items() if v}


@pytest.mark.parametrize(("text", "needle"), [
    ("nofile=1024", "expected '<container>:"),
    ("Main: nofile=1", "expected '<container>:"),
    ("main: files=1", "is not '<name>=<soft>[:<hard>]'"),
    ("main: nofile", "is not '<name>=<soft>[:<hard>]'"),
    ("main: nofile=x", "not a whole number"),
    ("main: nofile=2048:1024", "soft limit of nofile is above its hard limit"),
    ("main: nofile=unlimited:10", "soft limit of nofile is above its hard limit"),
    ("main: nofile=1, nofile=2", "set twice"),
    ("main: nofile=1; main: core=0", "named twice"),
])
def test_ulimits_refused(text: str, needle: str) -> None:
    with pytest.raises(HintError, match="shoal.io/ulimits") as e:
        parse_ulimits(text)
    assert needle in str(e.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("web=db:HEALTHY,sidecar=db:START",
     {"web": (Dependency("db", "HEALTHY"),), "sidecar": (Dependency("db", "START"),)}),
    (" web = db : healthy , web=cache:START ,", {"web": (Dependency("db", "HEALTHY"), Dependency("cache", "START"))}),
    ("web=db:START,web=db:START", {"web": (Dependency("db", "START"),)}),  # said twice alike: once
    ("a=b:START,b=c:HEALTHY,a=c:START", {"a": (Dependency("b", "START"), Dependency("c", "START")),
                                         "b": (Dependency("c", "HEALTHY"),)}),
    ("", {}),
])
def test_start_after_parses(text: str, expected: dict[str, tuple[Dependency, ...]]) -> None:
    assert parse_start_after(text) == expected
    assert parse_start_after(format_start_after(expected)) == expected


@pytest.mark.parametrize(("text", "needle"), [
    ("web", "expected '<container>=<dependency>:START|HEALTHY'"),
    ("web=db", "expected '<container>=<dependency>:START|HEALTHY'"),
    ("Web=db:START", "expected '<container>=<dependency>:START|HEALTHY'"),
    ("web=:START", "expected '<container>=<dependency>:START|HEALTHY'"),
    ("web=db:COMPLETE", "must be START or HEALTHY"),
    ("web=web:START", "cannot wait for itself"),
    ("web=db:START,web=db:HEALTHY", "with two conditions"),
    ("a=b:START,b=a:HEALTHY", "(a -> b -> a)"),
    ("a=b:START,b=c:START,c=a:START", "(a -> b -> c -> a)"),
])
def test_start_after_refused(text: str, needle: str) -> None:
    with pytest.raises(HintError, match="shoal.io/start-after") as e:
        parse_start_after(text)
    assert needle in str(e.value)
