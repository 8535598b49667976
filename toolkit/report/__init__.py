"""Self-contained, reproducible HTML reports."""

from ._audit_report import PROJECTION_SEED, ReportInputs, build_report, write_report
from ._directory import audit_directory

__all__ = ["ReportInputs", "build_report", "write_report", "audit_directory", "PROJECTION_SEED"]
