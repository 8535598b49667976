"""Tests of toolkit.plots._style: one colour table, colour-blind-safe."""

import pytest
from matplotlib.colors import to_hex

from toolkit.plots import STATE_COLORS, STATE_ORDER, VERDICT_COLORS, VERDICT_ORDER
from toolkit.plots import _style

# Okabe & Ito (2008), "Color Universal Design": eight colours told apart under
# protanopia, deuteranopia and tritanopia.
OKABE_ITO = {"#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7",
             "#000000"}


def _is_grey(color):
    h = to_hex(color)
    return h[1:3] == h[3:5] == h[5:7]


@pytest.mark.parametrize("order, colors", [(STATE_ORDER, STATE_COLORS),
                                           (VERDICT_ORDER, VERDICT_COLORS)])
def test_every_value_has_its_own_colour(order, colors):
    assert set(colors) == set(order)
    assert len({to_hex(colors[v]) for v in order}) == len(order)


def test_states_and_verdicts_are_the_documented_sets():
    assert STATE_ORDER == ("pending", "running", "succeeded", "failed", "stopped", "other")
    assert VERDICT_ORDER == ("likely-correct", "suspicious", "likely-wrong")


@pytest.mark.parametrize("color", [*STATE_COLORS.values(), *VERDICT_COLORS.values(),
                                   *_style.CLUSTER_COLORS])
def test_colours_are_colour_blind_safe(color):
    assert to_hex(color) in OKABE_ITO or _is_grey(color)


@pytest.mark.parametrize("color", [_style.REST_COLOR, _style.NO_CLUSTER_COLOR,
                                   _style.MISSING_COLOR])
def test_background_colours_are_grey(color):
    assert _is_grey(color)


def test_good_and_bad_keep_their_colour_across_tables():
    assert STATE_COLORS["succeeded"] == VERDICT_COLORS["likely-correct"]
    assert STATE_COLORS["failed"] == VERDICT_COLORS["likely-wrong"]


def test_tables_are_read_only():
    with pytest.raises(TypeError):
        STATE_COLORS["failed"] = "red"
    with pytest.raises(TypeError):
        VERDICT_COLORS["suspicious"] = "red"


@pytest.mark.parametrize("n", [0, 1, 8, 9, 56])
def test_cluster_styles_are_distinct_up_to_56(n):
    styles = _style.cluster_styles(n)
    assert len(styles) == n
    assert len(set(styles)) == n
    # The first eight differ by colour alone.
    assert all(m == _style.CLUSTER_MARKERS[0] for _, m in styles[:8])


def test_cluster_styles_repeat_after_56():
    styles = _style.cluster_styles(57)
    assert styles[56] == styles[0]


@pytest.mark.parametrize("kind, present, expected", [
    ("state", {"failed", "pending"}, ["pending", "failed"]),
    ("state", [], []),
    ("verdict", ["likely-wrong", "likely-correct"], ["likely-correct", "likely-wrong"]),
])
def test_legend_handles_list_present_values_in_table_order(kind, present, expected):
    handles = _style.legend_handles(kind, present)
    assert [h.get_label() for h in handles] == expected
    table = STATE_COLORS if kind == "state" else VERDICT_COLORS
    assert [to_hex(h.get_facecolor()) for h in handles] == [to_hex(table[v]) for v in expected]
