"""The dashboards, driven from Python: assign traits, click buttons, read what they show."""

import base64
import html
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from traitlets import TraitError

import toolkit as tk
from toolkit.widgets import MergeAuditDashboard, export_decisions, plan_decisions
from toolkit.widgets._html import cell_text, html_table, tint
from toolkit.widgets._merge_audit import TABS
from toolkit.widgets._merge_view import NO_VERDICT, filter_merges, merge_label
from toolkit.widgets._working import working_figure

from widget_cases import CLUSTER_COLORS, SCRIPT, SNAPSHOTS, TASKS, _faces, photo_faces

SAMPLE_DATA = Path(__file__).parent.parent / "sample_data"


@pytest.fixture(scope="module")
def tasks():
    return tk.read_tasks(TASKS)


@pytest.fixture(scope="module")
def history():
    return tk.read_task_history(SNAPSHOTS)


@pytest.fixture(scope="module")
def faces():
    return _faces()


@pytest.fixture(scope="module")
def audit(faces, tasks):
    return tk.audit_merges(faces, tasks)


@pytest.fixture(scope="module")
def shared_board(faces, audit, tasks, history):
    return MergeAuditDashboard(faces, tasks, history, audit=audit)


@pytest.fixture
def board(shared_board):
    """One dashboard for the module (drawing is the slow part; each board caches its
    figures), put back to its starting state before every test."""
    b = shared_board
    while b.working_step:
        b.undo_button.click()
    b.verdicts, b.outcomes = b.verdict_filter.options, b.outcome_filter.options
    b.selected, b.step, b.decisions = "t-right", 1, {}
    b.pick_to, b.pick_froms = "a1", ("a2",)
    b.export_dir = "merge-audit-export"
    b.tabs.selected_index = 0
    for output in (b.export_output, b.working_output, b.pick_output):
        output.outputs = ()
    b.error = ""
    return b


def _kinds(output):
    return [o["output_type"] for o in output.outputs]


def _alts(output):
    return [o["data"]["text/plain"] for o in output.outputs if o["output_type"] == "display_data"]


# ------------------------------------------------------------------------- package
def test_import_toolkit_does_not_import_ipywidgets():
    code = ("import sys, toolkit; assert 'ipywidgets' not in sys.modules; "
            "toolkit.widgets.MergeAuditDashboard; assert 'ipywidgets' in sys.modules")
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
def test_audit_dashboard_starts_on_the_first_merge(faces, audit, tasks, history):
    board = MergeAuditDashboard(faces, tasks, history, audit=audit)
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


@pytest.mark.parametrize("kwargs, error, match", [
    ({"audit": "nope"}, TypeError, "`audit` must be an AuditResult"),
    ({"history": pd.DataFrame({"task_id": ["t"]})}, tk.RecordError,
     "`history` has no column 'observed_at'"),
    ({"thresholds": {"wrong_below": 0.5}}, ValueError, "cannot be given with `audit=`"),
    ({"dataset": "ds2"}, ValueError, "the audit given is of dataset 'ds1'"),
    ({"start": "middle"}, ValueError, r"`start` must be one of \['initial', 'final'\]"),
    ({"n_thumbnails": 0}, ValueError, "`n_thumbnails` must be an integer >= 1"),
    ({"image_root": "/no/such/directory"}, FileNotFoundError, "no such directory"),
])
def test_dashboard_refuses_bad_arguments(faces, audit, tasks, kwargs, error, match):
    kwargs = {"audit": audit, **kwargs}
    with pytest.raises(error, match=match):
        MergeAuditDashboard(faces, tasks, kwargs.pop("history", None), **kwargs)


def test_dashboard_refuses_faces_that_are_not_faces_or_not_the_audits(faces, audit, tasks):
    with pytest.raises(TypeError, match="`faces` must be a FaceSet or a ClusterState"):
        MergeAuditDashboard(audit.merges, tasks, audit=audit)
    # The same faces with a different clustering: not the export the audit replayed on.
    other = tk.FaceSet(faces.faces.assign(cluster_id="a1"), faces.embeddings)
    with pytest.raises(ValueError, match="`audit` is not an audit of these faces"):
        MergeAuditDashboard(other, tasks, audit=audit)


# ------------------------------------------------------------- pick and working state
def _png(output, i=0):
    return base64.b64decode(output.outputs[i]["data"]["image/png"])


def _same_figures(a, b):
    """Two MergeImpact dicts equal, NaN equal to NaN, floats to 1e-12."""
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            _same_figures(x, y)
        elif isinstance(x, float) and np.isnan(x):
            assert np.isnan(y), key
        elif isinstance(x, float):
            assert x == pytest.approx(y, abs=1e-12), key
        else:
            assert x == y, key


def test_merge_label_names_outcome_and_verdict(audit):
    labels = {row["task_id"]: merge_label(row) for _, row in audit.merges.iterrows()}
    assert labels["t-right"] == "  1 · applied · likely-correct · +1.06 · t-right"
    assert labels["t-vanished"] == "  - · vanished · no verdict · n/a · t-vanished"


@pytest.mark.parametrize("task_id, to, froms", [
    ("t-right", "a1", ("a2",)), ("t-wrong", "b", ("b2",)), ("t-failed", "c", ("a1",)),
    ("t-vanished", "c", ("a2",)),
])
def test_selecting_an_audited_merge_sets_the_pick(board, task_id, to, froms):
    board.merge_list.value = task_id
    assert (board.pick_to, board.pick_froms) == (to, froms)
    # The pickers show it: every cluster exists in the export (the working state at step 0).
    assert board.pick_to_list.value == to and board.pick_froms_list.value == froms


def test_free_pick_previews_merge_impact_and_the_audits_judge(board, audit):
    from toolkit.audit import Thresholds
    from toolkit.audit._verdict import data_levels, judge

    board.pick_to_list.value = "c"
    board.pick_froms_list.value = ("b2", "a2")
    assert (board.pick_to, board.pick_froms) == ("c", ("b2", "a2"))
    preview = board.pick_preview
    state = audit.initial
    expected = tk.merge_impact(state, "c", ["b2", "a2"])
    _same_figures(preview.impact.to_dict(), expected.to_dict())
    judged = judge(expected, data_levels(state), Thresholds())
    assert preview.verdict == judged["verdict"]
    assert preview.figures["score"] == pytest.approx(judged["score"])
    shown = board.preview.value
    assert f"<b>{judged['verdict']}</b>" in shown
    assert f"{judged['score']:.4g}" in shown
    assert f"{expected.silhouette_after:.4g}" in shown
    assert not board.apply_button.disabled and board.error == ""


def test_preview_per_cluster_quality_matches_cluster_quality(board, audit):
    board.pick_to, board.pick_froms = "c", ("b2", "a2")
    table = board.pick_preview.clusters.set_index("cluster_id")
    before = tk.cluster_quality(audit.initial).set_index("cluster_id")
    after_state, _ = audit.initial.merge("c", froms=["b2", "a2"])
    after = tk.cluster_quality(after_state).set_index("cluster_id")
    assert table.loc[["c", "b2", "a2"], "role"].tolist() == ["destination", "source", "source"]
    for cid in ("c", "b2", "a2"):
        assert table.loc[cid, "size_before"] == before.loc[cid, "size"]
        assert table.loc[cid, "cohesion_before"] == pytest.approx(before.loc[cid, "cohesion"])
        assert table.loc[cid, "silhouette_before"] == pytest.approx(before.loc[cid, "silhouette"])
    # After: c holds 10 + 8 + 7 = 25 faces; the sources are gone.
    assert table.loc["c", "size_after"] == after.loc["c", "size"] == 25
    assert table.loc["c", "cohesion_after"] == pytest.approx(after.loc["c", "cohesion"])
    assert table.loc["c", "silhouette_after"] == pytest.approx(after.loc["c", "silhouette"])
    assert table.loc[["b2", "a2"], "size_after"].tolist() == [0, 0]
    for cid in table.index[table["role"] == "neighbour"]:
        assert table.loc[cid, "silhouette_after"] == pytest.approx(after.loc[cid, "silhouette"])


def test_pick_of_an_audited_merge_on_its_own_state_shows_the_audit_figures(board, audit):
    board.selected = "t-right"     # step 1: the working state at step 0 is the state it ran on
    row = audit.merges.set_index("task_id").loc["t-right"]
    figures = board.pick_preview.figures
    for name in ("score", "cross_mean", "cross_median", "silhouette_before", "silhouette_after",
                 "cohesion_after", "drift", "stranger_level", "same_level"):
        assert figures[name] == pytest.approx(row[name], abs=1e-12), name
    assert board.pick_preview.verdict == row["verdict"]


def test_apply_merges_the_pick_into_the_working_state(board, audit):
    caption0, png0 = board.working_caption.value, _png(board.working_quality)
    assert "working state, step 0: 5 clusters" in caption0
    assert board.undo_button.disabled
    board.selected = "t-wrong"                       # b2 -> b
    board.apply_button.click()
    assert board.error == ""
    expected = tk.Ledger(audit.initial).merge("b", froms=["b2"]).final
    assert np.array_equal(board.working.final.labels, expected.labels)
    assert board.working.final.equals(expected)
    assert board.working_step == len(board.working) == 1
    new, old = tk.silhouette_score(expected), tk.silhouette_score(audit.initial)
    assert (f"working state, step 1: 4 clusters, silhouette {new:.4f} (was {old:.4f})"
            in board.working_caption.value)
    assert _png(board.working_quality) != png0
    assert not board.undo_button.disabled
    # The ledger table, and the entry's UserData saying where it came from.
    entry = board.working.entries[-1]
    assert entry.task_id is None
    assert orjson.loads(entry.user_data) == {"applied_by": "MergeAuditDashboard",
                                             "audited_task_id": "t-wrong"}
    assert "applied_by" in html.unescape(board.working_table.value)
    # b2 is gone from the pickers; b grew to 9 + 8 = 17 faces and is listed first.
    assert board.pick_to_list.options[0] == ("b (17 faces)", "b")
    assert "b2" not in [v for _, v in board.pick_froms_list.options]
    # The same pick again breaks a rule: b2 no longer exists.
    assert board.pick_preview is None and board.apply_button.disabled
    assert "ResourceNotFound" in board.preview.value


def test_undo_restores_the_working_state_bit_for_bit(board, audit):
    caption0, png0 = board.working_caption.value, _png(board.working_quality)
    labels0 = board.working.final.labels.copy()
    board.apply_button.click()                        # t-right: a2 -> a1
    board.pick_to, board.pick_froms = "c", ("b",)
    board.apply_button.click()
    assert board.working_step == 2
    board.undo_button.click()
    board.undo_button.click()
    assert board.error == "" and board.working_step == 0
    assert np.array_equal(board.working.final.labels, labels0)
    assert board.working.final.equals(audit.initial)
    assert board.working_caption.value == caption0
    assert _png(board.working_quality) == png0
    assert board.undo_button.disabled


def test_a_sequence_of_applies_and_undos_walks_the_ledger(board, audit, monkeypatch):
    from toolkit.widgets import _merge_audit

    monkeypatch.setattr(_merge_audit, "KEPT_STATES", 2)   # older steps' objects are dropped
    picks = [("a1", ("a2",)), ("b", ("b2",)), ("c", ("b",)), ("a1", ("c",))]
    expected = tk.Ledger(audit.initial)
    for step, (to, froms) in enumerate(picks, start=1):
        board.pick_to, board.pick_froms = to, froms
        board.apply_button.click()
        expected = expected.merge(to, froms=list(froms))
        assert board.working_step == step and board.working.final.equals(expected.final)
        assert f"{board.working.final.n_clusters} clusters" in board.working_caption.value
    assert sorted(board._kept_states) == [0, 3, 4]
    for step in (3, 2, 1, 0):
        board.undo_button.click()
        assert board.working.final.equals(expected.state_at(step))
        # The preview is computed on a state equal to the ledger's.
        board.pick_to, board.pick_froms = picks[step]
        assert board.pick_preview.impact.silhouette_before == pytest.approx(
            tk.silhouette_score(expected.state_at(step)))
    assert board.error == ""


def test_working_figure_draws_silhouette_and_clusters_per_step(board):
    board.apply_button.click()
    fig = working_figure(board._working_rows, start="initial")
    ax, twin = fig.axes
    line = next(l for l in ax.get_lines() if l.get_label() == "global silhouette")
    assert line.get_ydata().tolist() == pytest.approx(
        [tk.silhouette_score(board.working.state_at(i)) for i in (0, 1)])
    assert twin.get_lines()[0].get_ydata().tolist() == [5, 4]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "global silhouette", "pairwise F (vs truth)", "BCubed F (vs truth)", "likely-correct",
        "clusters (right axis)"]
    assert "quality over 1 applied merge" in ax.get_title()


@pytest.mark.parametrize("to, froms, match", [
    ("a1", ("a1",), "To must not be one of the source clusters"),
    ("zz", ("a1",), "ResourceNotFound: To='zz'"),
    ("a1", ("a2", "nope"), r"Froms\[1\] is not a live cluster"),
    (SCRIPT, ("a1",), "ResourceNotFound"),
])
def test_a_pick_breaking_a_rule_shows_the_rule_and_changes_nothing(board, to, froms, match):
    labels0 = board.working.final.labels.copy()
    board.pick_to, board.pick_froms = to, froms
    assert board.pick_preview is None and board.apply_button.disabled
    shown = html.unescape(board.preview.value)
    assert "This pick breaks a merge rule on the working state (step 0)" in shown
    assert re.search(match, shown)
    assert SCRIPT not in board.preview.value and SCRIPT not in board.thumbnails.value
    assert board.error == "" and board.pick_output.outputs == ()
    # Clicked anyway (from code): the error is shown, the state is left alone.
    board.apply_button.click()
    assert _kinds(board.working_output) == ["error"]
    assert board.error.startswith("ValueError: Cannot apply") and re.search(match, board.error)
    assert board.working_step == 0 and np.array_equal(board.working.final.labels, labels0)


def test_apply_of_a_merge_whose_clusters_are_gone_shows_an_error(board):
    board.selected = "t-right"
    board.apply_button.click()                        # a2 -> a1
    board.selected = "t-vanished"                     # wants a2 -> c: a2 is gone
    assert "Froms[0] is not a live cluster" in board.preview.value
    assert "source a2 is not a cluster of the working state" in board.thumbnails.value
    board.apply_button.click()
    assert board.error.startswith("ValueError: Cannot apply a2 \u2192 c to the working state "
                                  "(step 1): ResourceNotFound")
    assert board.working_step == 1


def test_apply_and_undo_with_nothing_to_do_say_so(board):
    board.undo_button.click()
    assert board.error == ("ValueError: Nothing to undo: no merge has been applied to the "
                           "working state.")
    board.pick_to = None
    assert "Pick a destination and at least one source" in board.preview.value
    board.apply_button.click()
    assert board.error.startswith("ValueError: Nothing to apply")
    assert board.working_step == 0


def test_start_final_starts_at_the_audits_final_state(faces, audit, tasks, history):
    board = MergeAuditDashboard(faces, tasks, history, audit=audit, start="final")
    assert board.working.initial is audit.final and board.working_step == 0
    n = audit.final.n_clusters
    assert f"working state, step 0: {n} clusters" in board.working_caption.value
    assert "the audit's final state" in html.unescape(board.working_caption.value)
    # t-right was applied already: its source a2 is gone from this working state.
    assert board.selected == "t-right" and board.pick_preview is None
    assert "a2" not in [v for _, v in board.pick_froms_list.options]
    assert board.pick_froms_list.value == () and board.pick_to_list.value == "a1"
    board.pick_to, board.pick_froms = "c", ("a1",)
    board.apply_button.click()
    assert board.working.final.n_clusters == n - 1 and board.error == ""


def test_dashboard_runs_the_audit_itself_with_its_thresholds(faces):
    # Record dicts (not a frame) go through read_tasks; cuts above every score make t-right,
    # which scores 1.06, likely wrong.
    board = MergeAuditDashboard(faces, TASKS, thresholds={"suspicious_below": 1.3,
                                                          "wrong_below": 1.2})
    assert board.audit.thresholds["wrong_below"] == 1.2
    row = board.audit.merges.set_index("task_id").loc["t-right"]
    assert row["verdict"] == "likely-wrong"
    assert board.pick_preview.verdict == "likely-wrong"     # the pick is judged by the same cuts
    assert "below the likely-wrong cut 1.2" in board.preview.value


def test_pick_figures_are_drawn_when_their_tab_is_open(board):
    board.selected = "t-wrong"
    board.tabs.selected_index = TABS.index("pick figures")
    assert _alts(board.pick_figures) == ["<pick impact on the working state>",
                                         "<faces before and after the pick, 2-D projection>"]
    board.pick_to, board.pick_froms = "b", ("b",)
    assert _kinds(board.pick_figures) == ["stream"]
    assert "breaks a merge rule" in board.pick_figures.outputs[0]["text"]


@pytest.mark.parametrize("part, css", [
    ("merge_list", "tk-merge-list"), ("pick_to_list", "tk-pick-to"),
    ("pick_froms_list", "tk-pick-froms"), ("apply_button", "tk-apply"), ("undo_button", "tk-undo"),
    ("working_caption", "tk-working-caption"), ("working_quality", "tk-working-quality"),
    ("preview", "tk-preview"), ("thumbnails", "tk-thumbnails"),
])
def test_parts_carry_stable_css_classes(shared_board, part, css):
    assert css in getattr(shared_board, part)._dom_classes


def test_working_and_working_step_are_read_only(board):
    with pytest.raises(AttributeError):
        board.working = None
    with pytest.raises(TraitError, match="read-only"):
        board.working_step = 3


def test_cluster_options_are_labelled_and_largest_first(board):
    assert board.pick_to_list.options == (("c (10 faces)", "c"), ("b (9 faces)", "b"),
                                          ("a1 (8 faces)", "a1"), ("b2 (8 faces)", "b2"),
                                          ("a2 (7 faces)", "a2"))
    assert board.pick_froms_list.options == board.pick_to_list.options


# ---------------------------------------------------------------------- thumbnails
_IMG = re.compile(r'<img src="data:image/png;base64,([^"]+)"[^>]*title="([^"]*)"')


def _thumbs(markup):
    """(face id and status as the tooltip reads, decoded PIL image) per thumbnail shown."""
    from PIL import Image

    return [(html.unescape(title), Image.open(io.BytesIO(base64.b64decode(data))))
            for data, title in _IMG.findall(markup)]


def test_thumbnails_without_image_root_are_placeholders_and_say_so(board):
    board.selected = "t-right"                    # a2 (7 faces) -> a1 (8 faces)
    shown = board.thumbnails.value
    assert shown.count("No image_root was given") == 1
    assert "destination a1: 8 of 8 faces" in shown and "source a2: 7 of 7 faces" in shown
    thumbs = _thumbs(shown)
    # Without a face_quality column the faces are shown in face id order, destination first;
    # these faces have no URI either, and toolkit.images says which it noticed.
    assert [t.split()[0] for t, _ in thumbs] == ([f"a1-{i}" for i in range(8)]
                                                 + [f"a2-{i}" for i in range(7)])
    assert {t.split()[1] for t, _ in thumbs} <= {"(no-image-root)", "(no-uri)"}
    assert all(img.size == (96, 96) for _, img in thumbs)


def test_thumbnails_crop_the_faces_from_the_photos(tmp_path):
    faces = photo_faces(tmp_path, missing={"a2-0"})
    board = MergeAuditDashboard(faces, TASKS, image_root=tmp_path, n_thumbnails=3)
    assert board.error == "" and board.selected == "t-right"
    shown = board.thumbnails.value
    assert "No image_root was given" not in shown
    assert "destination a1: 3 of 8 faces" in shown
    assert "source a2: 3 of 7 faces (placeholders: 1 missing)" in shown
    thumbs = _thumbs(shown)
    assert [t for t, _ in thumbs] == ["a1-0 (ok)", "a1-1 (ok)", "a1-2 (ok)",
                                      "a2-0 (missing)", "a2-1 (ok)", "a2-2 (ok)"]
    for title, img in thumbs:
        assert img.size == (96, 96)
        if title.endswith("(ok)"):
            # The crop is centred on the face box, which holds its cluster's colour.
            assert img.convert("RGB").getpixel((48, 48)) == CLUSTER_COLORS[title[:2]]
    # Applied, a2's faces are a1's: the destination is shown as it is in the working state.
    board.apply_button.click()
    shown = board.thumbnails.value
    assert "destination a1: 3 of 15 faces" in shown
    assert "source a2 is not a cluster of the working state" in shown


def test_thumbnails_and_preview_escape_cluster_and_face_ids():
    from toolkit.audit import Thresholds
    from toolkit.widgets._thumbs import ThumbnailCache, thumbnail_groups, thumbnails_html
    from toolkit.widgets._working import preview_html, preview_pick

    ids = ["<b>x</b>", "<b>x</b>", "y\"'", "y\"'", "<i>z</i>", "<i>z</i>"]
    X = np.eye(6, 3)[[0, 0, 1, 1, 2, 2]] + 0.1
    state = tk.ClusterState.from_arrays(X, ids, face_ids=[f"<f{i}>" for i in range(6)])
    preview = preview_pick(state, "<b>x</b>", ["y\"'"], thresholds=Thresholds())
    markup = preview_html(preview, step=0)
    groups, absent = thumbnail_groups(state, "<b>x</b>", ["y\"'", SCRIPT],
                                      ThumbnailCache(None), n=2)
    markup += thumbnails_html(groups, absent, image_root=None)
    for raw in ("<b>x</b>", "<i>z</i>", SCRIPT, "<f0>", "y\"'"):
        assert raw not in markup
    assert "&lt;b&gt;x&lt;/b&gt;" in markup and "title=\"&lt;f0&gt; (no-" in markup
    assert "source &lt;script&gt;" in markup     # not in the state: named, escaped


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
def sample_board():
    return MergeAuditDashboard.from_directory(SAMPLE_DATA, image_root=SAMPLE_DATA / "images")


def test_sample_data_dashboard_lists_flags_and_escapes(sample_board):
    board = sample_board
    audit = board.audit
    board.verdicts = ("suspicious", "likely-wrong")
    board.outcomes = ("applied",)
    flagged = audit.flagged()["task_id"].tolist()
    assert [v for _, v in board.merge_list.options] == flagged and len(flagged) == 8
    # One UserData of the sample holds a script tag; the table shows it as text.
    board.verdicts, board.outcomes = board.verdict_filter.options, board.outcome_filter.options
    assert SCRIPT not in board.merge_table.value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in board.merge_table.value
    assert board.error == ""


def test_sample_data_reapplying_the_first_merge_gives_the_audits_step_1(sample_board):
    board = sample_board
    audit = board.audit
    first = audit.merges[audit.merges["step"].eq(1).fillna(False)]["task_id"].iloc[0]
    board.selected = first
    assert board.pick_preview.verdict == audit.merges.set_index("task_id").loc[first, "verdict"]
    board.apply_button.click()
    assert board.error == "" and board.working_step == 1
    assert board.working.final.equals(audit.ledger.state_at(1))
    assert f"silhouette {tk.silhouette_score(audit.ledger.state_at(1)):.4f}" \
        in board.working_caption.value
    # Every face shown for the merge's destination (now holding the source) is cut from a photo.
    thumbs = _thumbs(board.thumbnails.value)
    assert len(thumbs) == 8 and all(t.endswith("(ok)") for t, _ in thumbs), thumbs
    board.undo_button.click()
    assert board.working.final.equals(audit.initial) and board.working_step == 0
    thumbs = _thumbs(board.thumbnails.value)
    assert len(thumbs) == 16 and all(t.endswith("(ok)") for t, _ in thumbs)
