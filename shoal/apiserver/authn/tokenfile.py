"""``--token-auth-file``: static bearer tokens in upstream's CSV format. Pure.

One token a line: ``token,user,uid,"group1,group2"`` (the groups column is
optional; a quoted field may hold commas). Blank lines and lines starting with
``#`` are skipped. As upstream, a line with fewer than three columns, or an
empty token or user, is an error naming the line, and the server does not start.
"""

from __future__ import annotations

import csv

from shoal.apiserver.authn.user import User

AUTHENTICATED = "system:authenticated"


class TokenFileError(ValueError):
    pass


def parse(text: str) -> dict[str, User]:
    """Token -> user, from the file's text."""
    out: dict[str, User] = {}
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    for (n, _), row in zip(lines, csv.reader(line for _, line in lines), strict=True):
        if len(row) < 3:
            raise TokenFileError(f"token file line {n}: expected token,user,uid[,\"groups\"], got {len(row)} columns")
        token, name, uid = (c.strip() for c in row[:3])
        if not token or not name:
            raise TokenFileError(f"token file line {n}: the token and the user name may not be empty")
        groups = [g.strip() for g in row[3].split(",") if g.strip()] if len(row) > 3 else []
        if AUTHENTICATED not in groups:
            groups.append(AUTHENTICATED)
        out[token] = User(name, tuple(dict.fromkeys(groups)), uid)
    return out
