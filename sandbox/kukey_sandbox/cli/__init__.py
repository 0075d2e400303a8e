"""Subcommands the sandbox adds to `kukey` (see the entry points in sandbox/pyproject.toml)."""
