"""shoal: a small, fast container orchestrator that speaks the Kubernetes API."""
__version__ = "0.1.0"
