"""Tests of toolkit.plots._inputs: checking frames, times and cluster labels."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import RecordError
from toolkit.plots import _inputs


def test_get_ax_none_is_the_current_axes():
    ax = plt.figure().add_subplot()
    assert _inputs.get_ax(None) is ax
    assert _inputs.get_ax(ax) is ax


def test_get_ax_refuses_what_is_not_an_axes():
    with pytest.raises(TypeError, match="`ax` must be a matplotlib Axes or None, but Figure"):
        _inputs.get_ax(plt.figure())


def test_check_choice_names_choices_and_value():
    assert _inputs.check_choice("method", "pca", ["pca", "tsne"]) == "pca"
    with pytest.raises(ValueError, match=r"The value for `method` must be one of \['pca', "
                                         r"'tsne'\], but 'x' was passed\."):
        _inputs.check_choice("method", "x", ["pca", "tsne"])


def test_require_frame_names_argument_column_and_columns_found():
    frame = pd.DataFrame({"task_id": ["t1"], "state": ["failed"]})
    assert _inputs.require_frame(frame, ["task_id"], arg="tasks", expected="a tasks frame") \
        is frame
    with pytest.raises(RecordError, match=r"object: `tasks` has no column 'code'; field 'code'; "
                                          r"expected a tasks frame with columns \['task_id', "
                                          r"'code'\], got \['task_id', 'state'\]"):
        _inputs.require_frame(frame, ["task_id", "code"], arg="tasks", expected="a tasks frame")


def test_require_frame_refuses_a_non_frame():
    with pytest.raises(RecordError, match="`tasks` is not a DataFrame.*got 'list'"):
        _inputs.require_frame([1, 2], ["task_id"], arg="tasks", expected="a tasks frame")


def test_row_source_prefers_the_source_column():
    frame = pd.DataFrame({"source": ["tasks.jsonl:3", None], "x": [1, 2]})
    assert _inputs.row_source(frame, 0) == "tasks.jsonl:3"
    assert _inputs.row_source(frame, 1) == "object[1]"
    assert _inputs.row_source(frame[["x"]], 0) == "object[0]"


def test_check_values_names_the_row_source_of_an_unknown_value():
    frame = pd.DataFrame({"state": ["failed", "Cancelled"], "source": ["a.json", "b.jsonl:7"]})
    with pytest.raises(RecordError, match=r"b.jsonl:7: `tasks` has an unknown state; field "
                                          r"'state'; expected one of \['failed', 'running'\], "
                                          r"got 'Cancelled'"):
        _inputs.check_values(frame, "state", ["failed", "running"], arg="tasks")


def test_check_values_missing_values():
    frame = pd.DataFrame({"verdict": ["suspicious", None]})
    out = _inputs.check_values(frame, "verdict", ["suspicious"], arg="merges", allow_missing=True)
    assert out.tolist() == ["suspicious", None]
    with pytest.raises(RecordError, match=r"object\[1\]: `merges` has a missing verdict"):
        _inputs.check_values(frame, "verdict", ["suspicious"], arg="merges")


def test_utc_naive_converts_aware_times_to_utc():
    # 10:00 at +08:00 is 02:00 UTC.
    frame = pd.DataFrame({"t": pd.to_datetime(["2025-03-02T10:00:00+08:00", None], utc=True)})
    out = _inputs.utc_naive(frame, "t", arg="tasks")
    assert out.dtype == np.dtype("datetime64[ns]")
    assert out[0] == np.datetime64("2025-03-02T02:00:00")
    assert np.isnat(out[1])


def test_utc_naive_keeps_naive_times_and_accepts_an_all_missing_column():
    frame = pd.DataFrame({"t": pd.to_datetime(["2025-03-02T10:00:00"]), "e": [None]})
    assert _inputs.utc_naive(frame, "t", arg="tasks")[0] == np.datetime64("2025-03-02T10:00")
    assert np.isnat(_inputs.utc_naive(frame, "e", arg="tasks")).all()


def test_utc_naive_refuses_text():
    frame = pd.DataFrame({"t": [None, "2025-03-02T10:00Z"], "source": ["a:1", "a:2"]})
    with pytest.raises(RecordError, match=r"a:2: `tasks` column 't' does not hold datetimes; "
                                          r"field 't'; expected datetime64\[ns, UTC\]"):
        _inputs.utc_naive(frame, "t", arg="tasks")


def test_date_numbers_are_days_with_nan_for_missing():
    out = _inputs.date_numbers(np.array(["1970-01-02T12:00", "NaT"], dtype="datetime64[ns]"))
    # Matplotlib's epoch is 1970-01-01: one and a half days later is 1.5.
    assert out[0] == pytest.approx(1.5)
    assert np.isnan(out[1])


@pytest.mark.parametrize("text, expected", [("short", "short"), ("x" * 24, "x" * 24),
                                            ("x" * 25, "x" * 23 + "\u2026")])
def test_short_label(text, expected):
    assert _inputs.short_label(text) == expected


def test_cluster_codes_take_any_ids_and_mark_no_cluster():
    labels = ["Cluster-b", None, "figure-cluster-id-independent", "Cluster-a", "",
              "figure-cluster-id-unavailable", "Cluster-b"]
    codes, ids = _inputs.cluster_codes(labels)
    assert ids.tolist() == ["Cluster-a", "Cluster-b"]
    assert codes.tolist() == [1, -1, -1, 0, -1, -1, 1]


@pytest.mark.parametrize("labels, codes, ids", [
    (np.array([3, -1, 7, 3]), [0, -1, 1, 0], [3, 7]),              # -1 is noise
    (pd.Series([3, None, 7], dtype="Int64"), [0, -1, 1], [3, 7]),
    (["b", 2, "a"], [2, 0, 1], ["2", "a", "b"]),                     # mixed: ordered as text
])
def test_cluster_codes_integer_and_mixed_labels(labels, codes, ids):
    got_codes, got_ids = _inputs.cluster_codes(labels)
    assert got_codes.tolist() == codes
    assert [str(v) for v in got_ids] == [str(v) for v in ids]


@settings(deadline=None, max_examples=50)
@given(st.lists(st.sampled_from(["A", "B", "Cluster-x", None, ""]), min_size=1, max_size=30))
def test_cluster_codes_round_trip(labels):
    codes, ids = _inputs.cluster_codes(labels)
    for label, code in zip(labels, codes):
        if label in (None, ""):
            assert code == -1
        else:
            assert ids[code] == label
    assert list(ids) == sorted(ids)
