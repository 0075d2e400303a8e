"""Where kukey's settings come from: the process environment, `NAME_FILE` files and an optional `.env` file.

For each variable NAME, the first of these that holds a non-empty value wins:

    1. NAME in the process environment
    2. NAME_FILE in the process environment (a file holding the value: Docker and Kubernetes secrets)
    3. NAME in the `.env` file
    4. NAME_FILE in the `.env` file

An empty value means unset everywhere, so `docker run --env-file .env` with `NAME=` lines never overrides
the image's defaults with "". The `.env` file is `KUKEY_ENV_FILE` when that is set, else `.env` in the
current directory when it exists; it is parsed by python-dotenv (the format Docker Compose and most tools
read). NAME and NAME_FILE both set at the same level is a problem ("keep one"), as is a NAME_FILE that
cannot be read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

ENV_FILE_VARIABLE = "KUKEY_ENV_FILE"
DEFAULT_ENV_FILE = ".env"


class Environment:
    """Variables looked up in layers (see the module docstring); problems are collected, not raised."""

    def __init__(self, env: Mapping[str, str], dotenv: Mapping[str, str | None] | None = None,
                 *, dotenv_name: str = DEFAULT_ENV_FILE) -> None:
        self._layers: list[tuple[str, Mapping[str, str | None]]] = [("environment", env)]
        if dotenv is not None:
            self._layers.append((dotenv_name, dotenv))
        self.problems: list[str] = []
        self.from_file: set[str] = set()  # names whose value came from NAME_FILE

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Environment:
        """The process environment (or `env`) plus the .env file it names, or ./.env when there is one.

        Given an explicit `env` (tests, `kukey doctor`'s subsets), only a KUKEY_ENV_FILE in it is read."""
        explicit = env is not None
        env = os.environ if env is None else env
        named = (env.get(ENV_FILE_VARIABLE) or "").strip()
        path = Path(named) if named else (None if explicit else Path(DEFAULT_ENV_FILE))
        if path is None or (not named and not path.is_file()):
            return cls(env)
        if not path.is_file():
            found = cls(env)
            found.problems.append(f"{ENV_FILE_VARIABLE} points to {named!r}, which is not a readable file")
            return found
        try:
            values = dotenv_values(path, interpolate=False)
        except (OSError, UnicodeDecodeError):
            found = cls(env)
            found.problems.append(f"the .env file {str(path)!r} cannot be read")
            return found
        return cls(env, values, dotenv_name=str(path))

    def get(self, name: str) -> str:
        """A plain setting: NAME in the environment, else in the .env file; "" when unset."""
        for _, layer in self._layers:
            value = (layer.get(name) or "").strip()
            if value:
                return value
        return ""

    def secret(self, name: str) -> str:
        """A setting that may also come from a file named by NAME_FILE (see the module docstring)."""
        file_name = f"{name}_FILE"
        for where, layer in self._layers:
            value = (layer.get(name) or "").strip()
            path = (layer.get(file_name) or "").strip()
            if value and path:
                self.problems.append(f"{name} and {file_name} are both set in the {where}: keep one")
                return ""
            if value:
                return value
            if path:
                self.from_file.add(name)
                return self._read(file_name, path)
        return ""

    def source_name(self, name: str) -> str:
        """The variable a problem with NAME's value should name: NAME, or NAME_FILE when read from a file."""
        return f"{name}_FILE" if name in self.from_file else name

    def _read(self, file_name: str, path: str) -> str:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            self.problems.append(f"{file_name} points to {path!r}, which cannot be read")
            return ""
        if not text:
            self.problems.append(f"{file_name} points to {path!r}, which is empty")
        return text
