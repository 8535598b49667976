"""The HTML report: sections, escaping, self-containment, byte-identical re-runs."""

import re
from pathlib import Path

import pytest

from toolkit.cli import main
from toolkit.report import audit_directory, build_report
from toolkit.report._html import HtmlDocument, figure_png

SAMPLE = Path(__file__).parent.parent / "sample_data"


@pytest.fixture(scope="module")
def inputs():
    return audit_directory(SAMPLE)


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """The README's main command, run once: its output file and what it printed."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("report") / "report.html"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["audit", str(SAMPLE), "--out", str(out), "--title", "Audit <of> sample_data"]) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def html(main_job):
    return main_job[0].read_text(encoding="utf-8")


def test_report_holds_every_section(html, inputs):
    assert "<title>Audit &lt;of&gt; sample_data</title>" in html
    for anchor in ("merges", "quality", "flagged", "tasks", "provenance"):
        assert f'id="{anchor}"' in html
    flagged = inputs.audit.flagged()
    assert len(flagged) >= 5
    for task_id in flagged["task_id"]:
        assert f"task {task_id}</h3>" in html
    # Quality over merges, two silhouette panels, per flagged merge two figures, task plots.
    assert html.count("data:image/png;base64,") == 2 + 2 * len(flagged) + 2
    assert "Failures</h3>" in html and "sha256" in html and "version: numpy" in html


def test_strings_from_records_are_escaped(html):
    # The sample data holds a UserData of <script>alert(1)</script>: it must show as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html
    assert "Audit &lt;of&gt; sample_data" in html


def test_report_loads_nothing_from_the_network(html):
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "@import" not in html


def test_rerun_gives_identical_bytes(main_job, tmp_path):
    again = tmp_path / "again.html"
    assert main(["report", str(SAMPLE), "--out", str(again), "--title", "Audit <of> sample_data"]) == 0
    assert again.read_bytes() == main_job[0].read_bytes()


def test_figure_png_has_no_software_or_date_chunk():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = figure_png(fig)
    assert png.startswith(b"\x89PNG")
    assert b"Software" not in png and b"matplotlib" not in png.lower()
    assert figure_png(fig) == png


def test_html_table_escapes_cells_and_styles_rows():
    import pandas as pd

    doc = HtmlDocument("t")
    doc.table(pd.DataFrame({"verdict": ["likely-wrong"], "note": ["<b>x</b> & y"]}), row_class="verdict")
    out = doc.render()
    assert '<tr class="verdict-likely-wrong">' in out
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in out


def test_audit_command_prints_verdicts_and_writes_the_report(main_job):
    out, text = main_job
    assert "likely-wrong" in text and "report:" in text
    assert out.stat().st_size > 10_000


def test_audit_command_reports_a_missing_directory(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err
