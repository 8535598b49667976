"""Deterministic synthetic data: faces with embeddings and ground truth, and the
IMM / Huawei VIAS records of their clustering and merge history.

>>> from toolkit.sampledata import generate_faces, make_sample_data
>>> faces, X = generate_faces(20_000, 800, seed=3)            # doctest: +SKIP
>>> make_sample_data("sample_data", seed=0)                   # doctest: +SKIP
"""

from ._faces import generate_faces
from ._params import MODELS, SIMILARITY_SCALES
from ._write import make_sample_data

__all__ = ["generate_faces", "make_sample_data", "SIMILARITY_SCALES", "MODELS"]
