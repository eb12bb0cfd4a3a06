"""The `storewatch` command line: thin shells around the engine, replay, simulator and stack."""

from stream.cli.main import main

# `main` stays importable from here: the `storewatch` entry point of an existing install
# names `stream.cli:main`.
__all__ = ["main"]
