"""Load a data directory (laid out like ``sample_data/``) and audit it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..audit import audit_merges
from ..io import read_faces, read_task_history, read_tasks
from ..io._layout import DataLayout
from ._audit_report import ReportInputs

__all__ = ["audit_directory"]


def audit_directory(directory: str | Path, *, thresholds: Mapping[str, Any] | None = None,
                    errors: str = "collect") -> ReportInputs:
    """Read faces and task records under ``directory`` and audit the merges.

    Parameters
    ----------
    directory : path
        A data directory: ``faces.parquet`` (or ``faces.npz``), ``tasks/``
        and optionally ``huawei/``.
    thresholds : dict, default=None
        Verdict cuts (see :class:`toolkit.audit.Thresholds`).
    errors : {"collect", "raise"}, default="collect"
        How the readers treat bad records; collected ones are listed in the
        report.

    Returns
    -------
    ReportInputs
        The audit with the tasks, history, rejected records and input files,
        ready for :func:`toolkit.report.write_report`.

    Examples
    --------
    On a small sample-data directory:

    >>> import tempfile
    >>> from toolkit.sampledata import make_sample_data
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_sample_data(tmp, n_faces=800, n_identities=30, dim=16)
    ...     inputs = audit_directory(tmp)
    >>> inputs.audit.dataset, [p.name for p in inputs.files]
    ('family-photos', ['faces.parquet', 'tasks', 'huawei'])
    """
    layout = DataLayout.discover(directory)
    if layout.faces is None:
        raise ValueError(f"{layout.root}: no faces.parquet or faces.npz to audit")
    if not layout.task_sources:
        raise ValueError(f"{layout.root}: no tasks/ directory with merge task records")
    rejected = []

    def read(reader, *args, **kwargs):
        if errors == "raise":
            return reader(*args, **kwargs)
        data, bad = reader(*args, errors="collect", **kwargs)
        rejected.append(bad)
        return data

    faces = read(read_faces, layout.faces, embeddings=layout.embeddings)
    tasks = read(read_tasks, layout.task_sources)
    history = read(read_task_history, layout.task_sources)
    audit = audit_merges(faces, tasks, thresholds=thresholds)
    bad = [r for r in rejected if len(r)]
    files = [p for p in [layout.faces, layout.embeddings, *layout.task_sources] if p is not None]
    return ReportInputs(
        audit=audit, tasks=tasks, history=history,
        # The task and history readers read the same files: a broken line is reported by both.
        rejected=pd.concat(bad, ignore_index=True).drop_duplicates("source", ignore_index=True)
        if bad else None,
        files=files, root=layout.root,
        parameters={"directory": layout.root.name, "errors": errors})
