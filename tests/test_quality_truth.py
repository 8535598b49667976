"""Tests of toolkit.quality.compare_to_truth."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from toolkit.clustering import ClusterState
from toolkit.errors import RecordError
from toolkit.quality import TruthComparison, compare_to_truth


def _brute(labels, truth):
    """Pairwise and BCubed precision / recall straight from the definitions, O(n²)."""
    n = len(labels)
    pairs = list(itertools.combinations(range(n), 2))
    same_c = [labels[i] == labels[j] for i, j in pairs]
    same_t = [truth[i] == truth[j] for i, j in pairs]
    both = sum(c and t for c, t in zip(same_c, same_t))
    p = both / sum(same_c) if sum(same_c) else 1.0
    r = both / sum(same_t) if sum(same_t) else 1.0
    bp = np.mean([np.mean([truth[j] == truth[i] for j in range(n) if labels[j] == labels[i]])
                  for i in range(n)])
    br = np.mean([np.mean([labels[j] == labels[i] for j in range(n) if truth[j] == truth[i]])
                  for i in range(n)])
    return p, r, bp, br


def test_hand_worked_pairwise_and_bcubed():
    # Clusters a = {1, 2, 3}, b = {4}; identities x = {1, 2}, y = {3, 4}.
    # Pairs in one cluster: (1,2) (1,3) (2,3) = 3; of one identity: (1,2) (3,4) = 2;
    # in both: (1,2) = 1.  Pairwise P = 1/3, R = 1/2, F = 2(1/6)/(5/6) = 0.4.
    # BCubed precision per face: 1: 2/3, 2: 2/3, 3: 1/3, 4: 1/1  -> mean 8/3 / 4 = 2/3.
    # BCubed recall per face:    1: 2/2, 2: 2/2, 3: 1/2, 4: 1/2  -> mean 3 / 4 = 3/4.
    # BCubed F = 2 (2/3)(3/4) / (2/3 + 3/4) = 1 / (17/12) = 12/17.
    r = compare_to_truth(["a", "a", "a", "b"], ["x", "x", "y", "y"])
    assert isinstance(r, TruthComparison)
    assert (r.pairwise_precision, r.pairwise_recall) == (pytest.approx(1 / 3), 0.5)
    assert r.pairwise_f == pytest.approx(0.4)
    assert r.bcubed_precision == pytest.approx(2 / 3)
    assert r.bcubed_recall == pytest.approx(3 / 4)
    assert r.bcubed_f == pytest.approx(12 / 17)
    assert (r.n_faces, r.n_excluded, r.n_no_cluster, r.n_clusters, r.n_identities) == \
        (4, 0, 0, 2, 2)


def test_faces_in_no_cluster_are_singletons():
    # Face 3 is in no cluster, so it is its own cluster {3}:
    # clusters {1, 2}, {3}, {4}; identities x = {1, 2}, y = {3, 4}.
    # Pairs: one cluster pair (1,2), also one identity -> P = 1; identity pairs (1,2) (3,4),
    # R = 1/2.  BCubed P = 1 (every cluster pure); R per face 1, 1, 1/2, 1/2 -> 3/4.
    r = compare_to_truth(["a", "a", None, "b"], ["x", "x", "y", "y"])
    assert (r.pairwise_precision, r.pairwise_recall) == (1.0, 0.5)
    assert (r.bcubed_precision, r.bcubed_recall) == (1.0, 0.75)
    assert (r.n_no_cluster, r.n_clusters) == (1, 3)


@pytest.mark.parametrize("method", ["arithmetic", "geometric", "min", "max"])
def test_equals_sklearn_and_brute_force(method):
    rng = np.random.default_rng(len(method))
    n = 120
    labels = rng.integers(-1, 9, n)            # -1: in no cluster
    truth = rng.integers(0, 6, n).astype(object)
    truth[rng.random(n) < 0.1] = None           # no identity: left out
    r = compare_to_truth(labels, truth, average_method=method)
    keep = np.array([t is not None for t in truth])
    lab = labels[keep].copy()
    lone = lab < 0
    lab[lone] = 1000 + np.arange(lone.sum())   # each no-cluster face its own label
    tru = truth[keep].astype(int)
    assert r.nmi_average == method
    assert r.nmi == pytest.approx(
        skm.normalized_mutual_info_score(tru, lab, average_method=method), abs=1e-12)
    assert r.ari == pytest.approx(skm.adjusted_rand_score(tru, lab), abs=1e-12)
    h, c, v = skm.homogeneity_completeness_v_measure(tru, lab)
    assert (r.homogeneity, r.completeness, r.v_measure) == (
        pytest.approx(h, abs=1e-12), pytest.approx(c, abs=1e-12), pytest.approx(v, abs=1e-12))
    p, rc, bp, br = _brute(lab, tru)
    assert (r.pairwise_precision, r.pairwise_recall) == (pytest.approx(p), pytest.approx(rc))
    assert (r.bcubed_precision, r.bcubed_recall) == (pytest.approx(bp), pytest.approx(br))
    assert (r.n_faces, r.n_excluded) == (int(keep.sum()), int((~keep).sum()))


@pytest.mark.parametrize("labels, truth", [
    ([0, 0, 0, 0], [5, 5, 5, 5]),        # one cluster, one identity
    ([0, 1, 2, 3], [0, 1, 2, 3]),        # all singletons, perfect
    ([0, 0, 0, 0], [0, 1, 2, 3]),        # everything lumped together
    ([0, 1, 2, 3], [0, 0, 0, 0]),        # everything split
    (["p", "q", "p", "q"], ["u", "v", "u", "v"]),
])
def test_degenerate_cases_equal_sklearn(labels, truth):
    r = compare_to_truth(labels, truth)
    assert r.nmi == pytest.approx(skm.normalized_mutual_info_score(truth, labels))
    assert r.ari == pytest.approx(skm.adjusted_rand_score(truth, labels))
    assert r.v_measure == pytest.approx(skm.v_measure_score(truth, labels))
    p, rc, bp, br = _brute(labels, truth)
    assert (r.pairwise_precision, r.pairwise_recall, r.bcubed_precision, r.bcubed_recall) == \
        (pytest.approx(p), pytest.approx(rc), pytest.approx(bp), pytest.approx(br))


def test_invariant_to_relabelling_and_row_order():
    rng = np.random.default_rng(0)
    labels, truth = rng.integers(0, 5, 80), rng.integers(0, 4, 80)
    base = compare_to_truth(labels, truth).to_dict()
    perm = rng.permutation(80)
    names = np.array(["Ω", "b", "a a", "7", "Cluster-x"], dtype=object)
    moved = compare_to_truth(names[labels][perm], (truth * 10)[perm]).to_dict()
    assert moved.pop("nmi_average") == base.pop("nmi_average")
    assert moved == pytest.approx(base, abs=1e-12)


def test_state_uses_its_identity_column():
    X = np.random.default_rng(1).standard_normal((6, 3))
    faces = pd.DataFrame({"identity": ["x", "x", "y", "y", None, "y"]})
    state = ClusterState.from_arrays(X, ["a", "a", "a", "b", "b", None], faces=faces)
    r = compare_to_truth(state)
    expected = compare_to_truth(["a", "a", "a", "b", "b", None], faces["identity"])
    assert r == expected
    assert (r.n_excluded, r.n_no_cluster) == (1, 1)
    assert compare_to_truth(state, ["x"] * 6).n_identities == 1


def test_errors_are_clear():
    with pytest.raises(ValueError, match="`average_method` must be one of .*'median' was"):
        compare_to_truth([0, 1], [0, 1], average_method="median")
    with pytest.raises(RecordError, match="differ in length.*expected 3 identities"):
        compare_to_truth([0, 1, 1], [0, 1])
    with pytest.raises(TypeError, match="`truth` is required"):
        compare_to_truth([0, 1])
    with pytest.raises(ValueError, match="no face has a ground-truth identity"):
        compare_to_truth([0, 1], [None, np.nan])
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "b"])
    with pytest.raises(ValueError, match="no 'identity' column"):
        compare_to_truth(state)


def test_to_dict_holds_every_field():
    r = compare_to_truth([0, 0, 1], ["x", "y", "y"], average_method="geometric")
    d = r.to_dict()
    assert d["nmi_average"] == "geometric"
    assert set(d) == set(TruthComparison.__dataclass_fields__)
