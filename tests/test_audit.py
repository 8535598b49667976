"""The merge audit: replay order, outcomes, datasets, verdicts, exports, targets."""

import json
import math

import numpy as np
import orjson
import pandas as pd
import pytest

import toolkit as tk
from toolkit.audit import AuditResult, Thresholds, audit_merges, export_merge_requests, export_undo_plan
from toolkit.audit._verdict import data_levels

DIM = 32


def _faces(seed=0, *, offset=0.0):
    """Four people; A is split in two fragments; B and B2 are look-alikes (siblings).

    Clusters: a1, a2 (person A), b (person B), b2 (person B2, near B), c (person C).
    """
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(4, DIM))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    A, B, C = base[0], base[1], base[2]
    B2 = B + 0.9 * base[3]           # cos(B, B2) ≈ 0.74: a look-alike, not the same person
    B2 /= np.linalg.norm(B2)
    people = {"A": A, "B": B, "B2": B2, "C": C}
    layout = [("a1", "A", 8), ("a2", "A", 7), ("b", "B", 9), ("b2", "B2", 8), ("c", "C", 10)]
    rows, vecs = [], []
    for cid, person, n in layout:
        for i in range(n):
            v = people[person] + 0.35 * rng.normal(size=DIM) / math.sqrt(DIM) * 3
            vecs.append(v)
            rows.append({"face_id": f"{cid}-{i}", "cluster_id": cid, "identity": person,
                         "file_id": f"photo-{cid}-{i}", "dataset": "ds1"})
    X = np.asarray(vecs)
    if offset:
        # A "compressed" model: every face shares a large common component.
        X = X / np.linalg.norm(X, axis=1, keepdims=True) + offset * np.ones(DIM) / math.sqrt(DIM)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    frame = pd.DataFrame(rows)
    frame["norm"] = 1.0
    return tk.FaceSet(frame, X)


def _task(task_id, to, sources, *, status="Succeeded", end="2025-03-02T08:10:00Z",
          start=None, dataset="ds1", code="", user_data=""):
    req = {"ProjectName": "p", "DatasetName": dataset, "To": to}
    if len(sources) == 1:
        req["From"] = sources[0]
    else:
        req["Froms"] = sources
    body = {"RequestId": f"req-{task_id}", "ProjectName": "p", "EventId": f"ev-{task_id}",
            "TaskId": task_id, "TaskType": "FigureClustersMerging", "Status": status,
            "StartTime": start or end, "Code": code, "Message": "boom" if code else "",
            "UserData": user_data, "TaskRequestDefinition": json.dumps(req)}
    if status != "Running":
        body["EndTime"] = end
    return body


@pytest.fixture(scope="module")
def history():
    return [
        # Recorded out of order on purpose: replay goes by EndTime.
        _task("t-wrong", "b", ["b2"], end="2025-03-02T08:03:00Z"),
        _task("t-right", "a1", ["a2"], end="2025-03-02T08:01:00Z"),
        _task("t-failed", "c", ["a1"], status="Failed", code="InternalError",
              end="2025-03-02T08:02:00Z"),
        _task("t-pending", "c", ["b"], status="Running", start="2025-03-02T08:04:00Z"),
        _task("t-vanished", "c", ["a2"], end="2025-03-02T08:05:00Z"),   # a2 went in t-right
        _task("t-other", "x1", ["x2"], dataset="ds2", end="2025-03-02T08:06:00Z"),
    ]


@pytest.fixture(scope="module")
def audit(history):
    return audit_merges(_faces(), tk.read_tasks(history))


def _row(audit, task_id):
    return audit.merges.set_index("task_id").loc[task_id]


def test_replay_applies_succeeded_merges_in_completion_order(audit):
    applied = audit.merges[audit.merges["outcome"] == "applied"]
    assert applied["task_id"].tolist() == ["t-right", "t-wrong"]
    assert applied["step"].tolist() == [1, 2]
    assert [e.task_id for e in audit.ledger.entries] == ["t-right", "t-wrong"]
    # The ledger holds every intermediate state.
    assert audit.ledger.state_at(1).n_clusters == 4
    assert sorted(audit.final.cluster_ids.tolist()) == ["a1", "b", "c"]


def test_outcomes_of_failed_pending_and_vanished_merges(audit):
    assert _row(audit, "t-failed")["outcome"] == "failed"
    assert _row(audit, "t-pending")["outcome"] == "pending"
    vanished = _row(audit, "t-vanished")
    assert vanished["outcome"] == "vanished"
    assert "a2" in vanished["reasons"] and "t-right" in vanished["reasons"]
    assert pd.isna(vanished["verdict"])
    # Not applied: the state after all applied merges still has c untouched.
    assert audit.final.counts[audit.final.cluster_index("c")] == 10


def test_other_datasets_are_counted_not_replayed(audit):
    assert audit.dataset == "ds1"
    assert audit.other_datasets == {"ds2": 1}
    assert "t-other" not in audit.merges["task_id"].tolist()


def test_verdicts_separate_the_right_and_the_wrong_merge(audit):
    right, wrong = _row(audit, "t-right"), _row(audit, "t-wrong")
    assert right["verdict"] == "likely-correct"
    assert wrong["verdict"] in ("suspicious", "likely-wrong")
    assert right["score"] > audit.thresholds["suspicious_below"] > wrong["score"]
    assert "score" in wrong["reasons"]
    # Ground truth is present, so the F change is reported: the right merge helps, the wrong hurts.
    assert right["delta_pairwise_f"] > 0 > wrong["delta_pairwise_f"]


def test_failed_merge_is_judged_as_if_retried(audit):
    failed = _row(audit, "t-failed")
    # c (person C) and a1 (person A) are strangers: retrying would be wrong.
    assert failed["verdict"] == "likely-wrong"
    assert failed["reasons"].startswith("not applied")


@pytest.mark.parametrize("offset", [0.0, 3.0])
def test_verdicts_do_not_depend_on_the_similarity_scale(history, offset):
    faces = _faces(offset=offset)
    levels = data_levels(tk.ClusterState.from_faces(faces))
    if offset:
        assert levels.stranger > 0.8          # strangers already look alike on this scale
    audit = audit_merges(faces, tk.read_tasks(history))
    assert _row(audit, "t-right")["verdict"] == "likely-correct"
    assert _row(audit, "t-wrong")["verdict"] != "likely-correct"


def test_score_is_invariant_to_an_affine_change_of_scale(history):
    # The same geometry on two scales gives nearly the same scores (exactly for an affine map;
    # the common offset is only approximately affine after re-normalisation).
    plain = audit_merges(_faces(), tk.read_tasks(history)).merges.set_index("task_id")["score"]
    shifted = audit_merges(_faces(offset=3.0), tk.read_tasks(history)).merges.set_index("task_id")["score"]
    assert plain["t-right"] == pytest.approx(shifted["t-right"], abs=0.1)
    assert plain["t-wrong"] == pytest.approx(shifted["t-wrong"], abs=0.1)


def test_thresholds_can_be_overridden_and_are_reported(history):
    lenient = audit_merges(_faces(), tk.read_tasks(history),
                           thresholds={"suspicious_below": -5.0, "wrong_below": -5.0})
    assert _row(lenient, "t-wrong")["verdict"] == "likely-correct"
    assert lenient.thresholds["suspicious_below"] == -5.0
    assert "stranger_level_export" in lenient.thresholds


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="wrong_below"):
        Thresholds(suspicious_below=0.5, wrong_below=0.7)
    with pytest.raises(ValueError, match="Unknown threshold"):
        Thresholds.coerce({"suspicous_below": 0.5})


def test_timeline_has_a_row_per_step_with_exact_silhouette(audit):
    tl = audit.timeline
    assert tl["step"].tolist() == [0, 1, 2]
    for step in (0, 1, 2):
        expected = tk.quality.silhouette_score(audit.ledger.state_at(step))
        assert tl.loc[step, "silhouette"] == pytest.approx(expected, abs=1e-9)
    assert {"pairwise_f", "bcubed_f"} <= set(tl.columns)


def test_merge_with_unknown_parameters_is_reported():
    body = _task("t-nolog", "a1", ["a2"])
    del body["TaskRequestDefinition"]
    audit = audit_merges(_faces(), tk.read_tasks([body]))
    row = _row(audit, "t-nolog")
    assert row["outcome"] == "no-parameters"
    assert "merge request log" in row["reasons"]
    assert len(audit.ledger) == 0


def test_merge_breaking_a_rule_is_reported_not_applied():
    audit = audit_merges(_faces(), tk.read_tasks([_task("t-self", "a1", ["a1", "a2"])]))
    row = _row(audit, "t-self")
    assert row["outcome"] == "failed"
    assert "breaks a merge rule" in row["reasons"]
    assert len(audit.ledger) == 0


def test_faces_of_several_datasets_need_a_dataset_argument(history):
    faces = _faces()
    frame = faces.faces.assign(dataset=["ds1"] * 20 + ["ds2"] * (len(faces) - 20))
    mixed = tk.FaceSet(frame, faces.embeddings)
    with pytest.raises(ValueError, match="pass `dataset=`"):
        audit_merges(mixed, tk.read_tasks(history))


def test_export_merge_requests_writes_request_bodies(audit, tmp_path):
    path = tmp_path / "requests.jsonl"
    # Accept the two applied merges by their row labels.
    n = export_merge_requests(audit.merges.iloc[:2], path, project_name="p", dataset_name="ds1")
    lines = [orjson.loads(l) for l in path.read_bytes().splitlines()]
    assert n == 2 == len(lines)
    assert lines[0] == {"ProjectName": "p", "DatasetName": "ds1", "From": "a2", "To": "a1"}
    # Each body is valid for the cloud's rules.
    for body in lines:
        tk.clustering.validate_merge_request(body["To"], froms=body.get("Froms"), from_=body.get("From"))


def test_export_merge_requests_default_for_an_audit_is_failed_but_correct(audit, tmp_path):
    path = tmp_path / "retry.jsonl"
    # The only failed merge is judged wrong, so nothing is worth retrying.
    assert export_merge_requests(audit, path) == 0
    assert path.read_bytes() == b""


def test_export_merge_requests_from_suggestion_columns(tmp_path):
    frame = pd.DataFrame({"to": ["a"], "froms": [["b", "c"]], "accept": [True]})
    path = tmp_path / "s.jsonl"
    assert export_merge_requests(frame, path) == 1
    assert orjson.loads(path.read_bytes()) == {"Froms": ["b", "c"], "To": "a"}


def test_export_undo_plan_lists_the_faces_to_move_back(audit, tmp_path):
    path = tmp_path / "undo.jsonl"
    n = export_undo_plan(audit, path, verdicts=("suspicious", "likely-wrong"))
    plans = [orjson.loads(l) for l in path.read_bytes().splitlines()]
    assert n == 1 and plans[0]["TaskId"] == "t-wrong" and plans[0]["To"] == "b"
    moved = plans[0]["MoveBack"]
    assert moved[0]["ClusterId"] == "b2"
    assert moved[0]["FaceIds"] == [f"b2-{i}" for i in range(8)]


def test_audit_tables_export_to_csv_and_parquet(audit, tmp_path):
    audit.to_parquet(tmp_path / "merges.parquet")
    audit.to_csv(tmp_path / "merges.csv")
    back = pd.read_parquet(tmp_path / "merges.parquet")
    assert back["task_id"].tolist() == audit.merges["task_id"].tolist()
    assert json.loads(back.loc[0, "merge_sources"]) == audit.merges.loc[0, "merge_sources"]
    csv = pd.read_csv(tmp_path / "merges.csv")
    assert csv["verdict"].fillna("").tolist() == audit.merges["verdict"].fillna("").tolist()


def test_audit_refuses_wrong_argument_types(history):
    with pytest.raises(TypeError, match="FaceSet or a ClusterState"):
        audit_merges("faces.parquet", history)


def test_audit_result_repr_counts_verdicts(audit):
    text = repr(audit)
    assert isinstance(audit, AuditResult)
    assert "2 applied" in text and "likely-correct" in text


# ---- targets on the sample data at both similarity scales ------------------------------------

SAMPLE = __import__("pathlib").Path(__file__).parent.parent / "sample_data"


@pytest.fixture(scope="module", params=["standard", "compressed"])
def sample_dir(request, tmp_path_factory):
    if request.param == "standard":
        return SAMPLE
    out = tmp_path_factory.mktemp("compressed")
    tk.make_sample_data(out, seed=0, similarity_scale="compressed")
    return out


def _flag_scores(audit, truth):
    judged = audit.merges[audit.merges["outcome"].eq("applied")].join(truth, on="task_id")
    flagged = judged["verdict"].isin(["suspicious", "likely-wrong"])
    wrong = ~judged["correct"].astype(bool)
    tp = int((flagged & wrong).sum())
    return tp / max(int(flagged.sum()), 1), tp / max(int(wrong.sum()), 1), int(wrong.sum())


def test_flags_catch_the_wrong_merges_of_the_sample_data(sample_dir):
    faces = tk.read_faces(sample_dir / "faces.parquet")
    audit = audit_merges(faces, tk.read_tasks(sample_dir / "tasks"))
    truth = pd.read_csv(sample_dir / "truth" / "merges.csv").set_index("task_id")[["correct"]]
    precision, recall, n_wrong = _flag_scores(audit, truth)
    assert n_wrong >= 5
    assert precision >= 0.8 and recall >= 0.8
    # The second dataset's merges are counted, not replayed.
    assert audit.other_datasets and audit.dataset not in audit.other_datasets


def test_export_undo_plan_of_chosen_tasks_ignores_verdicts(audit, tmp_path):
    path = tmp_path / "undo.jsonl"
    # A reviewer rejects the right merge: it is undone whatever its verdict.
    assert export_undo_plan(audit, path, task_ids=["t-right", "t-failed"]) == 1
    plan = orjson.loads(path.read_bytes())
    assert plan["TaskId"] == "t-right" and plan["MoveBack"][0]["ClusterId"] == "a2"


def test_export_merge_requests_groups_chained_pair_suggestions(tmp_path):
    # a←b and b←c share b: one request into the largest (c), not two that would collide.
    pairs = pd.DataFrame({"merge_to": ["a", "b", "x"], "merge_from": ["b", "c", "y"],
                          "size_to": [5, 4, 2], "size_from": [4, 9, 2],
                          "accept": [True, True, True]})
    path = tmp_path / "pairs.jsonl"
    assert export_merge_requests(pairs, path) == 2
    bodies = [orjson.loads(l) for l in path.read_bytes().splitlines()]
    assert bodies == [{"Froms": ["a", "b"], "To": "c"}, {"From": "y", "To": "x"}]
    # Rejected pairs are left out before grouping.
    assert export_merge_requests(pairs.assign(accept=[True, False, False]), path) == 1
    assert orjson.loads(path.read_bytes()) == {"From": "b", "To": "a"}
