"""The dashboards, driven from Python: assign traits, click buttons, read what they show."""

import base64
import html
import subprocess
import sys
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from traitlets import TraitError

import toolkit as tk
from toolkit.widgets import AuditDashboard, export_decisions, plan_decisions
from toolkit.widgets._html import cell_text, html_table, tint
from toolkit.widgets._merge_view import NO_VERDICT, filter_merges

from widget_cases import SCRIPT, SNAPSHOTS, TASKS, _faces

SAMPLE_DATA = Path(__file__).parent.parent / "sample_data"


@pytest.fixture(scope="module")
def tasks():
    return tk.read_tasks(TASKS)


@pytest.fixture(scope="module")
def history():
    return tk.read_task_history(SNAPSHOTS)


@pytest.fixture(scope="module")
def audit(tasks):
    return tk.audit_merges(_faces(), tasks)


@pytest.fixture(scope="module")
def shared_board(audit, tasks, history):
    return AuditDashboard(audit, tasks=tasks, history=history)


@pytest.fixture
def board(shared_board):
    """One dashboard for the module (drawing is the slow part; each board caches its
    figures), put back to its starting state before every test."""
    b = shared_board
    b.verdicts, b.outcomes = b.verdict_filter.options, b.outcome_filter.options
    b.selected, b.step, b.decisions = "t-right", 1, {}
    b.export_dir = "merge-audit-export"
    b.export_output.outputs = ()
    return b


def _kinds(output):
    return [o["output_type"] for o in output.outputs]


def _alts(output):
    return [o["data"]["text/plain"] for o in output.outputs if o["output_type"] == "display_data"]


# ------------------------------------------------------------------------- package
def test_import_toolkit_does_not_import_ipywidgets():
    code = ("import sys, toolkit; assert 'ipywidgets' not in sys.modules; "
            "toolkit.widgets.TaskDashboard; assert 'ipywidgets' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_widgets_namespace_is_curated():
    assert sorted(dir(tk.widgets)) == sorted(tk.widgets.__all__)
    with pytest.raises(AttributeError, match="no attribute 'plot_nothing'"):
        tk.widgets.plot_nothing


# ----------------------------------------------------------------------- html help
@pytest.mark.parametrize("value, text", [
    (None, ""), (float("nan"), ""), (pd.NA, ""), (pd.NaT, ""),
    (0.123456789, "0.1235"), (3, "3"), (True, "True"),
    ({"by": "ann", "a": [1, 2]}, '{"a":[1,2],"by":"ann"}'),     # sorted keys, compact JSON
    (pd.Timestamp("2025-03-02T08:00:00Z"), "2025-03-02T08:00:00+00:00"),
])
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_tint_mixes_30_percent_of_the_colour_with_white():
    # 0x69 = 105: 255 - 0.3 * (255 - 105) = 210 = 0xd2; 0xff stays 0xff.
    assert tint("#69ff69") == "#d2ffd2"


def test_html_table_escapes_headers_and_cells_and_counts_hidden_rows():
    frame = pd.DataFrame({"<th>": [SCRIPT, "x", "y"]})
    out = html_table(frame, max_rows=2)
    assert "<script>" not in out and "<th>" not in out.replace("<th style", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&lt;th&gt;" in out
    assert "1 more rows not shown." in out


@settings(deadline=None, max_examples=60)
@given(st.text(max_size=30))
def test_html_table_shows_any_text_as_text(text):
    out = html_table(pd.DataFrame({"user_data": [text]}))
    assert html.escape(text) in out
    # Whatever the text holds, the only tags are the table's own.
    tags = {t.split()[0].strip("/>") for t in out.split("<")[1:]}
    assert tags <= {"table", "thead", "tbody", "tr", "th", "td"}


# ------------------------------------------------------------------ audit dashboard
def test_audit_dashboard_starts_on_the_first_merge(audit, tasks, history):
    board = AuditDashboard(audit, tasks=tasks, history=history)
    assert board.selected == audit.merges["task_id"].iloc[0] == "t-right"
    assert board.verdicts == tuple(tk.plots.VERDICT_ORDER) + (NO_VERDICT,)
    assert board.outcomes == ("applied", "failed", "pending", "vanished", "no-parameters")
    assert [v for _, v in board.merge_list.options] == audit.merges["task_id"].tolist()
    assert len(audit.merges) == 5
    assert board.merge_list.value == "t-right"
    # t-right is step 1; the history did not observe it: impact, then the projection.
    assert board.step == 1 and board.step_slider.value == 1
    assert _alts(board.merge_output) == ["<merge impact>",
                                         "<faces before and after the merge, 2-D projection>"]
    assert _kinds(board.quality_output) == ["display_data"]
    assert board.error == ""


@pytest.mark.parametrize("verdicts, outcomes, expected", [
    (("suspicious",), None, ["t-wrong"]),
    (("likely-wrong",), None, ["t-failed", "t-pending"]),
    ((NO_VERDICT,), None, ["t-vanished"]),
    (None, ("failed", "pending"), ["t-failed", "t-pending"]),
    (("likely-correct",), ("vanished",), []),
])
def test_filters_narrow_the_list_and_move_the_selection(board, audit, verdicts, outcomes,
                                                        expected):
    # The audit's verdicts on this data: t-right likely-correct (score 1.06), t-wrong
    # suspicious (0.64, between the cuts 0.6 and 0.75), t-failed and t-pending likely-wrong
    # (-0.14, 0.13: judged on the final state), t-vanished none.
    verdict_of = dict(zip(audit.merges["task_id"], audit.merges["verdict"].astype(object)))
    assert verdict_of == {"t-right": "likely-correct", "t-wrong": "suspicious",
                          "t-failed": "likely-wrong", "t-pending": "likely-wrong",
                          "t-vanished": verdict_of["t-vanished"]}
    assert pd.isna(verdict_of["t-vanished"])
    if verdicts is not None:
        board.verdicts = verdicts
    if outcomes is not None:
        board.outcomes = outcomes
    assert [v for _, v in board.merge_list.options] == expected
    assert board.selected == (expected[0] if expected else None)
    assert board.verdict_filter.value == board.verdicts
    if not expected:
        assert "No merge passes the filters." in board.details.value
        assert board.merge_output.outputs == ()
        assert board.accept_button.disabled and board.reject_button.disabled


def test_filter_widgets_drive_the_traits(board):
    board.outcome_filter.value = ("vanished",)
    assert board.outcomes == ("vanished",)
    assert board.selected == "t-vanished"


def test_picking_in_the_list_selects_and_moves_the_step(board):
    board.merge_list.value = "t-wrong"
    assert board.selected == "t-wrong"
    assert board.step == 2                        # t-right ended first: t-wrong is step 2
    assert "t-wrong" in board.step_caption.value
    # The history observed t-wrong: its status history is drawn beside the impact.
    assert _alts(board.merge_output)[0] == "<merge impact and task status history>"


def test_selection_survives_a_filter_that_keeps_it(board):
    board.selected = "t-wrong"
    board.outcomes = ("applied",)
    assert board.selected == "t-wrong" and board.merge_list.value == "t-wrong"


def test_user_data_is_escaped_in_details_and_table(board):
    board.selected = "t-wrong"
    for value in (board.details.value, board.merge_table.value):
        assert SCRIPT not in value
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in value


def test_details_show_verdict_reasons_and_figures(board, audit):
    board.selected = "t-wrong"
    row = audit.merges.set_index("task_id").loc["t-wrong"]
    assert "<b>suspicious</b>" in board.details.value
    assert f"{row['score']:.4g}" in board.details.value
    assert "below the suspicious cut 0.75" in board.details.value


def test_failed_judged_merge_is_drawn_as_if_applied(board):
    board.selected = "t-failed"
    assert "failed" in board.details.value
    assert _alts(board.merge_output) == ["<merge impact>",
                                         "<faces before and after the merge, 2-D projection>"]
    assert board.step == 1            # unchanged: a merge that was not applied has no step


def test_vanished_merge_has_nothing_to_draw(board):
    board.selected = "t-vanished"
    assert _kinds(board.merge_output) == ["stream"]
    assert "Nothing to draw for task t-vanished" in board.merge_output.outputs[0]["text"]
    assert "no longer exists" in board.details.value


def test_buttons_record_decisions_in_a_new_dict(board):
    board.selected = "t-wrong"
    before = board.decisions
    board.reject_button.click()
    assert board.decisions == {"t-wrong": "rejected"} and before == {}
    board.selected = "t-failed"
    board.accept_button.click()
    assert board.decisions == {"t-wrong": "rejected", "t-failed": "accepted"}
    assert "your decision: <b>accepted</b>" in board.details.value
    assert "rejected" in board.merge_table.value
    board.clear_button.click()
    assert board.decisions == {"t-wrong": "rejected"}
    assert "1 merge(s) to undo and 0 merge request(s)" in board.export_summary.value


@pytest.mark.parametrize("trait, value, match", [
    ("decisions", {"t-nope": "accepted"}, "not a merge of the audit"),
    ("decisions", {"t-wrong": "maybe"}, r"must be one of \['accepted', 'rejected'\]"),
    ("selected", "t-nope", "must be the task id of one of the audit's 5 merges"),
    ("step", 9, "between 0 \\(the export\\) and 2"),
    ("verdicts", ("great",), "must hold values among"),
    ("outcomes", ("applied", "lost"), "'lost' was passed"),
])
def test_invalid_trait_values_are_refused(board, trait, value, match):
    with pytest.raises(TraitError, match=match):
        setattr(board, trait, value)


def test_step_slider_marks_the_step_and_describes_it(board, audit):
    board.step_slider.value = 0
    assert board.step == 0
    assert "the export, before any merge" in board.step_caption.value
    board.step = 1
    assert board.step_slider.value == 1
    assert "t-right" in board.step_caption.value
    assert f"{audit.timeline['silhouette'].iloc[1]:.4g}" in board.step_caption.value
    assert _kinds(board.quality_output) == ["display_data"]
    png = base64.b64decode(board.quality_output.outputs[0]["data"]["image/png"])
    assert png.startswith(b"\x89PNG")


def test_export_writes_undo_plan_requests_and_decisions(board, audit, tmp_path):
    board.decisions = {"t-wrong": "rejected", "t-failed": "accepted", "t-pending": "accepted",
                       "t-vanished": "accepted", "t-right": "accepted"}
    board.export_text.value = str(tmp_path / "review")
    assert board.export_dir == str(tmp_path / "review")
    board.export_button.click()
    assert board.error == ""
    out = tmp_path / "review"
    # Undo: only t-wrong (applied, rejected); its faces go back to b2.
    undo = [orjson.loads(line) for line in (out / "undo_plan.jsonl").read_bytes().splitlines()]
    assert [u["TaskId"] for u in undo] == ["t-wrong"]
    assert undo[0]["To"] == "b"
    assert undo[0]["MoveBack"] == [{"ClusterId": "b2", "FaceIds": [f"b2-{i}" for i in range(8)]}]
    # Requests: only t-failed (failed, judged). t-pending still runs, t-vanished would fail
    # again, t-right is applied already.
    requests = [orjson.loads(x) for x in (out / "merge_requests.jsonl").read_bytes().splitlines()]
    assert requests == [{"DatasetName": "ds1", "From": "a1", "ProjectName": "proj", "To": "c"}]
    recorded = orjson.loads((out / "decisions.json").read_bytes())
    assert recorded == {"dataset": "ds1", "decisions": board.decisions}
    assert board.exported == {"directory": str(out), "undo_plan.jsonl": 1,
                              "merge_requests.jsonl": 1, "decisions.json": 5}
    assert str(out / "undo_plan.jsonl") in board.export_summary.value


def test_export_error_is_shown_in_the_output_not_lost(board, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    board.export_dir = str(blocker)
    board.export_button.click()
    assert _kinds(board.export_output) == ["error"]
    assert board.export_output.outputs[0]["ename"] == "NotADirectoryError"
    assert board.error.startswith("NotADirectoryError: ") and "a-file" in board.error
    # The next action that succeeds clears the error.
    board.export_dir = str(tmp_path / "ok")
    board.export_button.click()
    assert board.error == "" and board.export_output.outputs == ()


def test_audit_dashboard_refuses_what_is_not_an_audit(audit):
    with pytest.raises(TypeError, match="`audit` must be an AuditResult"):
        AuditDashboard(audit.merges)
    with pytest.raises(tk.RecordError, match="`history` has no column 'observed_at'"):
        AuditDashboard(audit, history=pd.DataFrame({"task_id": ["t"]}))


# ------------------------------------------------------------------------ decisions
@pytest.mark.parametrize("task_id, decision, action", [
    ("t-wrong", "rejected", "undo"),        # applied, rejected
    ("t-wrong", "accepted", "none"),        # applied already
    ("t-failed", "accepted", "request"),    # failed, clusters existed: retry
    ("t-failed", "rejected", "none"),       # nothing to undo
    ("t-pending", "accepted", "none"),      # applies by itself
    ("t-vanished", "accepted", "none"),     # would fail again
])
def test_plan_decisions(audit, task_id, decision, action):
    plan = plan_decisions(audit, {task_id: decision})
    assert plan[["task_id", "decision", "action"]].values.tolist() == [[task_id, decision, action]]


def test_export_decisions_checks_its_arguments(audit, tmp_path):
    with pytest.raises(ValueError, match="empty string was passed"):
        export_decisions(audit, {}, " ")
    with pytest.raises(TypeError, match="`audit` must be an AuditResult"):
        export_decisions(audit.merges, {}, tmp_path)
    with pytest.raises(ValueError, match="'t-nope', which is not a merge"):
        export_decisions(audit, {"t-nope": "rejected"}, tmp_path)


@settings(deadline=None, max_examples=40)
@given(verdicts=st.sets(st.sampled_from(list(tk.plots.VERDICT_ORDER) + [NO_VERDICT])),
       outcomes=st.sets(st.sampled_from(["applied", "failed", "pending", "vanished"])))
def test_filter_merges_is_the_row_predicate(audit, verdicts, outcomes):
    out = filter_merges(audit.merges, verdicts=tuple(verdicts), outcomes=tuple(outcomes))
    expected = [r.task_id for r in audit.merges.itertuples()
                if r.outcome in outcomes
                and ((r.verdict if isinstance(r.verdict, str) else NO_VERDICT) in verdicts)]
    assert out["task_id"].tolist() == expected


def test_filter_merges_keeps_order(audit):
    both = filter_merges(audit.merges, verdicts=("likely-wrong", "likely-correct"),
                         outcomes=("applied", "failed", "pending"))
    assert both["task_id"].tolist() == ["t-right", "t-failed", "t-pending"]


# ------------------------------------------------------------------ the sample data
@pytest.fixture(scope="module")
def sample():
    from toolkit.report import audit_directory

    return audit_directory(SAMPLE_DATA)


def test_sample_data_dashboards(sample):
    board = AuditDashboard(sample.audit, tasks=sample.tasks, history=sample.history)
    board.verdicts = ("suspicious", "likely-wrong")
    board.outcomes = ("applied",)
    flagged = sample.audit.flagged()["task_id"].tolist()
    assert [v for _, v in board.merge_list.options] == flagged and len(flagged) == 8
    # One UserData of the sample holds a script tag; the table shows it as text.
    board.verdicts = board.verdict_filter.options
    assert SCRIPT not in board.merge_table.value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in board.merge_table.value
    assert board.error == ""
