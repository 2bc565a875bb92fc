"""The web UI: its static files (``static/``) and the routes that serve them under ``/ui/``.

The UI is a client of the Kubernetes API like kubectl: it holds no server-side
state and no privilege of its own. This package only serves its files; it
imports nothing of shoal (a contract in pyproject.toml).
"""
