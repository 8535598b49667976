"""``python -m toolkit sample-data DIR --seed N``: write the deterministic sample data set."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from .cli import command
from .sampledata import MODELS, SIMILARITY_SCALES, make_sample_data


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="directory to write (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--similarity-scale", choices=SIMILARITY_SCALES, default="standard",
                        help="standard: strangers' cosine about 0 (ArcFace-like); compressed: "
                             "above 0.8 (dlib-like)")
    parser.add_argument("--model", choices=MODELS, default="default",
                        help="spread of faces around their person (default: isotropic)")
    parser.add_argument("--n-faces", type=int, default=3000, help="number of faces (3000)")
    parser.add_argument("--n-identities", type=int, default=120, help="number of people (120)")
    parser.add_argument("--dim", type=int, default=512, help="embedding dimension (512)")


@command("sample-data", help="write the deterministic sample data set (faces with embeddings "
                              "and truth, IMM and Huawei records) to a directory")
def sample_data(args: argparse.Namespace) -> int:
    manifest = make_sample_data(args.directory, seed=args.seed,
                                similarity_scale=args.similarity_scale, n_faces=args.n_faces,
                                n_identities=args.n_identities, dim=args.dim, model=args.model)
    # The portraits under images/ are hundreds of files: one line for them all.
    files = manifest["file"].astype(str)
    images = files.str.startswith("images/")
    shown = manifest[~images]
    if images.any():
        summary = {"file": f"images/ ({int(images.sum())} files)"}
        summary.update({c: int(manifest.loc[images, c].sum()) if c in ("bytes", "records") else ""
                        for c in manifest.columns if c != "file"})
        shown = pd.concat([shown, pd.DataFrame([summary])], ignore_index=True)
    print(shown.to_string(index=False))
    print(f"{len(manifest)} files, {int(manifest['bytes'].sum()):,} bytes in {args.directory}")
    return 0


sample_data.add_arguments = _add_arguments
