"""Imported by the sandboxes' fork server only: load what every sandbox shares before the first fork."""
from infra.sandbox_bootstrap import preload

preload()
