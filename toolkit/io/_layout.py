"""Where things are in a data directory laid out like ``sample_data/``.

Used by the command line and the report, so one directory argument is enough::

    DIR/faces.parquet | DIR/faces.npz      faces with embeddings (and ground truth, if any)
    DIR/tasks/  DIR/huawei/                 task records of any supported shape
    DIR/imm/clusters*.json[l]               FigureCluster records
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DataLayout"]


@dataclass(frozen=True)
class DataLayout:
    root: Path
    faces: Path | None = None
    embeddings: Path | None = None
    task_sources: list[Path] = field(default_factory=list)
    clusters: list[Path] = field(default_factory=list)

    @classmethod
    def discover(cls, root: str | Path) -> "DataLayout":
        """Find the known files under ``root``.

        Raises
        ------
        FileNotFoundError
            ``root`` does not exist.
        ValueError
            ``root`` holds none of the known files.
        """
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such directory")
        faces = next((p for p in (root / "faces.parquet", root / "faces.npz") if p.is_file()), None)
        tasks = [p for p in (root / "tasks", root / "huawei") if p.is_dir()]
        clusters = sorted((root / "imm").glob("clusters*.json*")) if (root / "imm").is_dir() else []
        if faces is None and not tasks and not clusters:
            raise ValueError(f"{root}: found none of faces.parquet, faces.npz, tasks/, huawei/, "
                             "imm/clusters*.json — is this a data directory like sample_data/?")
        return cls(root, faces, None, tasks, clusters)
