"""Shared test fixtures."""

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere: tests never open a window

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test opened."""
    yield
    plt.close("all")
