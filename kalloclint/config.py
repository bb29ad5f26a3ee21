"""Settings from `[tool.kalloclint]` in pyproject.toml or `.kalloclint.toml`, checked key by key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kalloclint.findings import SEVERITIES
from kalloclint.tomlcompat import tomllib


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file and the key."""


@dataclass(slots=True)
class Settings:
    """Everything a run is configured with; the command line overrides the file."""

    select: list[str] = field(default_factory=lambda: ["ALL"])
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    model_files: list[str] = field(default_factory=list)
    min_severity: str = "info"
    arch: str | None = None  # an arch profile of the model (rules/arch.toml); None: x86_64
    include_dirs: list[str] = field(default_factory=list)  # where #include "..." and <...> are looked for
    source: str | None = None  # the file the settings came from


_KEYS = {
    "select": list, "ignore": list, "extend-select": list, "exclude": list,
    "per-file-ignores": dict, "model-files": list, "min-severity": str, "arch": str, "include-dirs": list,
}


def find_config(start: Path) -> Path | None:
    """The nearest `.kalloclint.toml`, or pyproject.toml with a [tool.kalloclint] table, at or above `start`."""
    here = start if start.is_dir() else start.parent
    for directory in [here, *here.parents]:
        dotfile = directory / ".kalloclint.toml"
        if dotfile.is_file():
            return dotfile
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            try:
                if "kalloclint" in _read(pyproject).get("tool", {}):
                    return pyproject
            except ConfigError:
                return pyproject  # a broken pyproject is reported when it is loaded
    return None


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_settings(path: Path) -> Settings:
    """Read and validate one configuration file."""
    doc = _read(path)
    if path.name == "pyproject.toml":
        table = doc.get("tool", {}).get("kalloclint", {})
        where = "[tool.kalloclint]"
    else:
        table = doc
        where = ""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where or 'the file'} must be a table")
    settings = Settings(source=str(path))
    base = path.parent
    for key, value in table.items():
        want = _KEYS.get(key)
        label = f"{path}: {where + ' ' if where else ''}key '{key}'"
        if want is None:
            raise ConfigError(f"{label}: unknown key (known: {', '.join(_KEYS)})")
        if not isinstance(value, want):
            raise ConfigError(f"{label}: must be a {'list of strings' if want is list else want.__name__}")
        if want is list and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{label}: must be a list of strings")
        if key == "per-file-ignores":
            for glob, codes in value.items():
                if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                    raise ConfigError(f"{label}: '{glob}' must map to a list of rule codes or names")
            settings.per_file_ignores = {g: list(c) for g, c in value.items()}
        elif key == "min-severity":
            if value not in SEVERITIES:
                raise ConfigError(f"{label}: must be one of {', '.join(SEVERITIES)}")
            settings.min_severity = value
        elif key == "model-files":
            settings.model_files = [str(base / v) if not os.path.isabs(v) else v for v in value]
        elif key == "include-dirs":
            settings.include_dirs = [str(base / v) if not os.path.isabs(v) else v for v in value]
        elif key == "arch":
            settings.arch = value
        else:
            setattr(settings, key.replace("-", "_"), list(value))
    return settings
