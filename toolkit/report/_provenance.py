"""Provenance: what a report was made from, so someone else can re-run it."""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

__all__ = ["file_hashes", "package_versions", "provenance_frame"]

_PACKAGES = ("toolkit", "numpy", "pandas", "scikit-learn", "matplotlib", "pyarrow", "ipywidgets")


def file_hashes(paths: Iterable[str | Path], *, root: str | Path | None = None) -> pd.DataFrame:
    """SHA-256 of every file under ``paths`` (directories walked in sorted order).

    Paths are shown relative to ``root`` when given, so the table does not
    depend on where the data directory lives.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    rows = []
    for f in sorted(set(files)):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        name = f.relative_to(root).as_posix() if root is not None and f.is_relative_to(root) else f.name
        rows.append({"file": name, "bytes": f.stat().st_size, "sha256": digest})
    return pd.DataFrame(rows, columns=["file", "bytes", "sha256"])


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages the figures depend on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance_frame(parameters: dict[str, Any]) -> pd.DataFrame:
    """Parameters and package versions as a two-column table, in a stable order."""
    rows = [{"item": k, "value": v} for k, v in parameters.items()]
    rows += [{"item": f"version: {k}", "value": v} for k, v in package_versions().items()]
    return pd.DataFrame(rows, columns=["item", "value"])
