"""Reading faces and their embeddings into a :class:`~toolkit.faceset.FaceSet`.

Three kinds of input:

- a Parquet file: ``face_id``, ``embedding`` (a list column of floats),
  optional ``cluster_id``, ``identity`` and any attribute columns;
- an NPZ archive: ``embeddings`` (n, d) and ``face_ids`` (n,), optional
  ``cluster_ids`` and ``identities``;
- IMM File records (JSON / JSONL, optionally gzipped, a directory of them, or
  in-memory dicts and SDK objects), each with ``Figures[]``. IMM exposes no
  embeddings, so these need ``embeddings=``: Parquet or NPZ files keyed by
  face id (a Figure's face id is its ``FigureId``).

Every row of a Parquet or NPZ file and every Figure is a *record*. Records
that cannot become a face are rejected one by one with their source
(``"faces.parquet row 12"``, ``"emb.npz index 12"``, ``"files.jsonl:3
Figures[0]"``); the rest is vectorised: embeddings go from Arrow list arrays
to one numpy matrix without a Python loop over rows.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..faceset import PARQUET_METADATA_KEY, FaceSet
from ._source import JSON_SUFFIXES, Collector, ReadCounts, iter_documents

__all__ = ["read_faces"]

PARQUET_SUFFIXES = (".parquet", ".pq")
NPZ_SUFFIXES = (".npz",)
FLOAT_DTYPES = (np.float16, np.float32, np.float64)

# Above this many rows the validation pass shows a tqdm progress bar.
_PROGRESS_MIN_ROWS = 100_000
# Rows are validated and normalised in float64 chunks of about this many bytes.
_CHUNK_BYTES = 32 * 2**20
# A row written by FaceSet.to_parquet must be unit length up to float32 rounding.
_UNIT_TOLERANCE = 1e-3
# Columns a Parquet file may not use for attributes: the reader fills them.
_RESERVED = ("face_id", "cluster_id", "identity", "embedding", "norm")


# --------------------------------------------------------------------------- field checks

class FieldProblem(Exception):
    """One bad value; the caller turns it into a rejected record."""

    def __init__(self, reason: str, *, field: str | None = None,
                 expected: str | None = None, got: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.expected = expected
        self.got = got

    def reject(self, collector: Collector, counts: ReadCounts, source: str, raw: Any,
               *, already_read: bool = False) -> None:
        counts.read += 0 if already_read else 1
        counts.rejected += 1
        collector.reject(source, self.reason, raw, field=self.field, expected=self.expected,
                         got=self.got)


def check_str(value: Any, field: str, *, required: bool = False) -> str | None:
    """``value`` as a string; ``None`` for missing unless ``required``."""
    if value is None:
        if required:
            raise FieldProblem("missing required field", field=field,
                               expected="a non-empty string", got=None)
        return None
    if not isinstance(value, str):
        raise FieldProblem("wrong type", field=field, expected="a string", got=value)
    if required and not value:
        raise FieldProblem("missing required field", field=field,
                           expected="a non-empty string", got=value)
    return value


def check_float(value: Any, field: str) -> float | None:
    """``value`` as a float (JSON numbers; booleans refused); ``None`` for missing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldProblem("wrong type", field=field, expected="a number", got=value)
    return float(value)


def check_int(value: Any, field: str) -> int | None:
    """``value`` as an int (integral floats accepted); ``None`` for missing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldProblem("wrong type", field=field, expected="an integer", got=value)
    if isinstance(value, float):
        if not value.is_integer():
            raise FieldProblem("wrong type", field=field, expected="an integer", got=value)
        value = int(value)
    return value


def _check_pixels(value: Any, field: str) -> int | None:
    """A photo dimension: a positive integer, or ``None`` for missing."""
    pixels = check_int(value, field)
    if pixels is not None and pixels <= 0:
        raise FieldProblem("bad value", field=field, expected="a positive number of pixels",
                           got=value)
    return pixels


def check_dict(value: Any, field: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldProblem("wrong type", field=field, expected="an object", got=value)
    return value


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``"HeadPose"`` -> ``"head_pose"``, ``"AgeSD"`` -> ``"age_sd"``, ``"URI"`` -> ``"uri"``."""
    return _CAMEL.sub("_", name).lower()


# --------------------------------------------------------------------------- IMM Figures

# Column name and kind of each documented Figure field, in the frame's column order.
_FIGURE_FIELDS: dict[str, tuple[str, str]] = {
    "FigureType": ("figure_type", "str"),
    "FigureConfidence": ("figure_confidence", "float"),
    "FigureClusterConfidence": ("figure_cluster_confidence", "float"),
    "FaceQuality": ("face_quality", "float"),
    "Sharpness": ("sharpness", "float"),
    "Boundary.Left": ("boundary_left", "int"),
    "Boundary.Top": ("boundary_top", "int"),
    "Boundary.Width": ("boundary_width", "int"),
    "Boundary.Height": ("boundary_height", "int"),
    "Boundary.Polygon": ("boundary_polygon", "json"),
    "HeadPose.Pitch": ("head_pose_pitch", "float"),
    "HeadPose.Roll": ("head_pose_roll", "float"),
    "HeadPose.Yaw": ("head_pose_yaw", "float"),
    "Age": ("age", "int"),
    "AgeSD": ("age_sd", "float"),
    "Gender": ("gender", "str"),
    "GenderConfidence": ("gender_confidence", "float"),
    "Emotion": ("emotion", "str"),
    "EmotionConfidence": ("emotion_confidence", "float"),
    "Attractive": ("attractive", "float"),
    "Beard": ("beard", "str"),
    "BeardConfidence": ("beard_confidence", "float"),
    "Glasses": ("glasses", "str"),
    "GlassesConfidence": ("glasses_confidence", "float"),
    "Hat": ("hat", "str"),
    "HatConfidence": ("hat_confidence", "float"),
    "Mask": ("mask", "str"),
    "MaskConfidence": ("mask_confidence", "float"),
    "Mouth": ("mouth", "str"),
    "MouthConfidence": ("mouth_confidence", "float"),
}
_FIGURE_KINDS = {column: kind for column, kind in _FIGURE_FIELDS.values()}
_FIGURE_ORDER = {column: i for i, (column, _) in enumerate(_FIGURE_FIELDS.values())}
_NESTED = {"Boundary", "HeadPose"}
# File context of each face; the photo's size as recorded lets thumbnails scale the
# Boundary to a downscaled local copy.
_FILE_COLUMNS = {"file_id": "str", "uri": "str", "dataset": "str", "image_width": "int",
                 "image_height": "int"}
_FILLED = {"face_id", "cluster_id", "identity", "norm", *_FILE_COLUMNS}


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _figure_value(key: str, value: Any, kind: str) -> Any:
    if kind == "float":
        return check_float(value, key)
    if kind == "int":
        return check_int(value, key)
    if kind == "str":
        return check_str(value, key)
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise FieldProblem("wrong type", field=key, expected="a list of points", got=value)
    return _json_text(value)


def _flatten_extra(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Undocumented fields: nested objects flattened, lists kept as JSON text."""
    if value is None or value == [] or value == {}:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten_extra(f"{prefix}_{snake_case(str(key))}", item, out)
    elif isinstance(value, list):
        out.setdefault(prefix, _json_text(value))
    else:
        out.setdefault(prefix, value)


def _parse_figure(figure: Any) -> tuple[str, dict[str, Any]]:
    """A Figure's face id and its columns (face_id and file context excluded)."""
    if not isinstance(figure, dict):
        raise FieldProblem("wrong type", field="Figures[]", expected="a Figure object",
                           got=figure)
    face_id = check_str(figure.get("FigureId"), "FigureId", required=True)
    row: dict[str, Any] = {"cluster_id": check_str(figure.get("FigureClusterId"),
                                                   "FigureClusterId")}
    extra: dict[str, Any] = {}
    for key, value in figure.items():
        if key in ("FigureId", "FigureClusterId") or value is None:
            continue
        if key in _NESTED:
            nested = check_dict(value, key)
            for sub, item in nested.items():
                dotted = f"{key}.{sub}"
                if dotted in _FIGURE_FIELDS:
                    column, kind = _FIGURE_FIELDS[dotted]
                    row[column] = _figure_value(dotted, item, kind)
                else:
                    _flatten_extra(f"{snake_case(key)}_{snake_case(sub)}", item, extra)
        elif key in _FIGURE_FIELDS:
            column, kind = _FIGURE_FIELDS[key]
            row[column] = _figure_value(key, value, kind)
        else:
            _flatten_extra(snake_case(key), value, extra)
    for column, value in extra.items():
        # An undocumented field may not overwrite a column the reader fills.
        if column in _FILLED or column in _FIGURE_KINDS:
            column = f"figure_{column}"
        row.setdefault(column, value)
    return face_id, row


def _is_file(value: dict) -> bool:
    if "ObjectType" in value and value["ObjectType"] not in ("file", None):
        return False
    return "Figures" in value or "URI" in value


def _iter_files(source: str, value: Any, counts: ReadCounts,
                collector: Collector) -> Iterator[tuple[str, dict]]:
    """The IMM File objects of one document, each with its source label."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _iter_files(f"{source}[{i}]", item, counts, collector)
        return
    if isinstance(value, dict) and "Files" in value:
        files = value["Files"]
        if files is None:
            return
        if not isinstance(files, list):
            FieldProblem("wrong type", field="Files", expected="a list of File objects",
                         got=files).reject(collector, counts, source, value)
            return
        for i, item in enumerate(files):
            if isinstance(item, dict) and _is_file(item):
                yield f"{source} Files[{i}]", item
            else:
                _unknown_shape(f"{source} Files[{i}]", item, counts, collector)
        return
    if isinstance(value, dict) and isinstance(value.get("File"), dict):
        yield f"{source} File", value["File"]
        return
    if isinstance(value, dict) and _is_file(value):
        yield source, value
        return
    _unknown_shape(source, value, counts, collector)


def _unknown_shape(source: str, value: Any, counts: ReadCounts, collector: Collector) -> None:
    got = sorted(value)[:12] if isinstance(value, dict) else type(value).__name__
    FieldProblem("unknown record shape", expected="an IMM File with Figures[] (or URI), "
                 "{File: ...} or a page {Files: [...]}", got=got,
                 ).reject(collector, counts, source, value)


@dataclass
class _Figures:
    """Figures that passed the field checks, first occurrence of each face id."""

    face_ids: list[str]
    rows: list[dict[str, Any]]
    sources: list[str]
    raws: list[dict]


def _read_figures(source: Any, collector: Collector, counts: ReadCounts) -> _Figures:
    out = _Figures([], [], [], [])
    seen: set[str] = set()
    for doc in iter_documents(source, collector, counts):
        for label, file in _iter_files(doc.source, doc.value, counts, collector):
            try:
                context = {
                    "file_id": check_str(file.get("ObjectId"), "ObjectId")
                    or check_str(file.get("URI"), "URI"),
                    "uri": check_str(file.get("URI"), "URI"),
                    "dataset": check_str(file.get("DatasetName"), "DatasetName"),
                    "image_width": _check_pixels(file.get("ImageWidth"), "ImageWidth"),
                    "image_height": _check_pixels(file.get("ImageHeight"), "ImageHeight"),
                }
                figures = file.get("Figures") or []
                if not isinstance(figures, list):
                    raise FieldProblem("wrong type", field="Figures",
                                       expected="a list of Figure objects", got=figures)
            except FieldProblem as problem:
                # The File's Figures cannot be trusted one by one: the File is one record.
                problem.reject(collector, counts, label, file)
                continue
            for i, figure in enumerate(figures):
                fig_source = f"{label} Figures[{i}]"
                try:
                    face_id, row = _parse_figure(figure)
                except FieldProblem as problem:
                    problem.reject(collector, counts, fig_source, figure)
                    continue
                counts.read += 1
                if face_id in seen:
                    # The same Figure seen twice (overlapping pages, repeated exports):
                    # the first occurrence stands.
                    counts.duplicates += 1
                    continue
                seen.add(face_id)
                out.face_ids.append(face_id)
                out.rows.append({**context, **row})
                out.sources.append(fig_source)
                out.raws.append(figure)
    return out


def _figure_frame(face_ids: list[str], rows: list[dict[str, Any]],
                  identity: pd.Series | None) -> pd.DataFrame:
    """Faces frame of the figures: ids, file context, identity, then typed attributes."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(k for k, v in row.items() if v is not None))
    context = [c for c in _FILE_COLUMNS if c in names]
    attrs = sorted((c for c in names if c in _FIGURE_KINDS), key=_FIGURE_ORDER.__getitem__)
    extra = sorted(c for c in names if c not in _FIGURE_KINDS and c not in _FILE_COLUMNS
                   and c != "cluster_id")
    data: dict[str, Any] = {
        "face_id": pd.Series(face_ids, dtype="str"),
        "cluster_id": pd.Series([r.get("cluster_id") for r in rows], dtype="str"),
    }
    for column in context:
        data[column] = _typed_series([r.get(column) for r in rows], _FILE_COLUMNS[column])
    if identity is not None:
        data["identity"] = identity.reset_index(drop=True)
    for column in attrs + extra:
        kind = _FIGURE_KINDS.get(column)
        data[column] = _typed_series([r.get(column) for r in rows], kind)
    return pd.DataFrame(data, index=pd.RangeIndex(len(face_ids)))


def _typed_series(values: list, kind: str | None) -> pd.Series:
    if kind in ("str", "json"):
        return pd.Series(values, dtype="str")
    if kind == "float":
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "int":
        return pd.Series(values, dtype="Int64")
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="Int64")
    return pd.Series(values)


# --------------------------------------------------------------------------- vector files

class FileProblem(FieldProblem):
    """A Parquet or NPZ file that cannot be read at all (one rejected record)."""


@dataclass
class _VectorFile:
    """One Parquet or NPZ file, opened and checked, rows not yet validated."""

    label: str
    row_word: str                      # "row" (Parquet) or "index" (NPZ)
    face_ids: np.ndarray               # object: str, or None where missing
    frame: pd.DataFrame                # face_id and attribute columns, final order, no norm
    lengths: np.ndarray                # int64 values per row; -1 = no embedding
    take: Callable[[np.ndarray | None], np.ndarray]   # row mask -> (m, d) array
    raw_row: Callable[[int], dict]
    stored_norms: np.ndarray | None    # set when written by FaceSet.to_parquet
    fixed_dim: int | None

    def source(self, position: int) -> str:
        return f"{self.label} {self.row_word} {position}"


def _id_values(column: pa.ChunkedArray | np.ndarray, name: str) -> np.ndarray:
    """String or integer ids as an object array of str, None where missing or empty."""
    hint = f"strings (or integers), e.g. df[{name!r}].astype(str)"
    if isinstance(column, np.ndarray):
        if column.ndim != 1:
            raise FileProblem("wrong shape", field=name, expected="a 1-D array",
                              got=f"shape {column.shape}")
        if column.dtype.kind in "iu":
            return column.astype(str).astype(object)
        if column.dtype.kind != "U":
            raise FileProblem("wrong type", field=name, expected=hint, got=f"dtype {column.dtype}")
        out = column.astype(object)
        out[column == ""] = None
        return out
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = pc.cast(column, kind.value_type)
        kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_large_string(kind) \
            or pa.types.is_string_view(kind):
        column = pc.cast(column, pa.string())
    elif not pa.types.is_string(kind):
        raise FileProblem("wrong type", field=name, expected=hint, got=str(kind))
    out = column.to_numpy(zero_copy_only=False).astype(object)
    out[out == ""] = None
    return out


def _arrow_attributes(table: pa.Table) -> pd.DataFrame:
    """Attribute columns as pandas, dtypes from the file's pandas metadata when present."""
    frame = table.to_pandas()
    if not isinstance(frame.index, pd.RangeIndex):
        # A named index written by pandas is an attribute; an unnamed one is row numbers.
        named = [n for n in frame.index.names if n is not None]
        frame = frame.reset_index(drop=not named)
    return frame.reset_index(drop=True)


def _open_parquet(path: Path, label: str, *, lookup: bool) -> _VectorFile:
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise FileProblem(f"not a readable Parquet file ({exc})") from None
    names = schema.names
    for required, expected in (("face_id", "a column of face ids (strings)"),
                               ("embedding", "a list column of float16/float32/float64")):
        if required not in names:
            raise FileProblem("missing required column", field=required, expected=expected,
                              got=f"columns {names}")
    emb_type = schema.field("embedding").type
    if not (pa.types.is_list(emb_type) or pa.types.is_large_list(emb_type)
            or pa.types.is_fixed_size_list(emb_type)) \
            or not pa.types.is_floating(emb_type.value_type):
        raise FileProblem("wrong type", field="embedding",
                          expected="a list of float16/float32/float64 per row", got=str(emb_type))
    meta = schema.metadata or {}
    written = PARQUET_METADATA_KEY in meta
    if not written and "norm" in names and not lookup:
        raise FileProblem("the column 'norm' is reserved: the reader stores each embedding's "
                          "L2 norm there", field="norm",
                          expected="no 'norm' column (rename it)", got="a 'norm' column")
    if lookup:
        columns = [c for c in ("face_id", "identity", "embedding") if c in names]
    else:
        columns = [c for c in names if not c.startswith("__index_level_")]
    try:
        table = parquet.read(columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise FileProblem(f"not a readable Parquet file ({exc})") from None
    n = table.num_rows
    face_ids = _id_values(table.column("face_id"), "face_id")
    specials = {"face_id": pd.Series(face_ids, dtype="str")}
    for name in ("cluster_id", "identity"):
        if name in table.column_names:
            specials[name] = pd.Series(_id_values(table.column(name), name), dtype="str")
    stored_norms = None
    if written and "norm" in table.column_names:
        norm_col = table.column("norm")
        if not pa.types.is_floating(norm_col.type):
            raise FileProblem("wrong type", field="norm", expected="floats", got=str(norm_col.type))
        stored_norms = norm_col.to_numpy().astype(np.float64)
    rest = table.drop_columns([c for c in _RESERVED if c in table.column_names])
    attrs = _arrow_attributes(rest)
    if not lookup:
        specials.setdefault("cluster_id", pd.Series([None] * n, dtype="str"))
    # The file's column order is kept (so FaceSet.to_parquet round-trips); a missing
    # cluster_id goes right after face_id.
    order = [c for c in table.column_names if c not in ("embedding", "norm")]
    order += [c for c in attrs.columns if c not in order]
    if "cluster_id" in specials and "cluster_id" not in order:
        order.insert(order.index("face_id") + 1, "cluster_id")
    frame = pd.DataFrame({c: specials[c] if c in specials else attrs[c]
                          for c in order if c in specials or c in attrs.columns},
                         index=pd.RangeIndex(n))

    emb = table.column("embedding").combine_chunks()
    lengths = pc.list_value_length(emb).fill_null(-1).to_numpy(zero_copy_only=False)
    fixed_dim = emb_type.list_size if pa.types.is_fixed_size_list(emb_type) else None

    def take(mask: np.ndarray | None) -> np.ndarray:
        rows = emb if mask is None or mask.all() else emb.filter(pa.array(mask))
        values = rows.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(len(rows), -1) if len(rows) else values.reshape(0, 0)

    def raw_row(i: int) -> dict:
        return table.slice(i, 1).to_pylist()[0]

    return _VectorFile(label, "row", face_ids, frame, lengths.astype(np.int64), take, raw_row,
                       stored_norms, fixed_dim)


def _load_npz_arrays(path: Path, keys: Sequence[str] | None) -> dict[str, np.ndarray]:
    # We own the file handle, so a failed load cannot leak it.
    with open(path, "rb") as handle:
        try:
            npz = np.load(handle, allow_pickle=False)
        except ValueError as exc:
            raise FileProblem(f"not an NPZ archive of plain arrays ({exc})") from None
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise FileProblem(f"not a readable NPZ archive ({exc})") from None
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise FileProblem("not an NPZ archive", expected="arrays saved with np.savez",
                              got=f"a single {type(npz).__name__}")
        with npz:
            arrays = {}
            for key in npz.files if keys is None else [k for k in keys if k in npz.files]:
                try:
                    arrays[key] = npz[key]
                except ValueError as exc:
                    # allow_pickle=False refuses object arrays: loading them would unpickle.
                    raise FileProblem("the array holds Python objects, which are never "
                                      f"unpickled ({exc})", field=key,
                                      expected="a numeric or fixed-width string ('U') array",
                                      got="an object array") from None
                except (OSError, EOFError, zipfile.BadZipFile) as exc:
                    raise FileProblem(f"not a readable NPZ archive ({exc})", field=key) from None
            return arrays


def _open_npz(path: Path, label: str, *, lookup: bool) -> _VectorFile:
    wanted = ("embeddings", "face_ids", "identities") if lookup else None
    arrays = _load_npz_arrays(path, wanted)
    for required, expected in (("embeddings", "a float array of shape (n_faces, dim)"),
                               ("face_ids", "a string array of shape (n_faces,)")):
        if required not in arrays:
            raise FileProblem("missing required array", field=required, expected=expected,
                              got=f"arrays {sorted(arrays)}")
    emb = arrays.pop("embeddings")
    if emb.ndim != 2 or emb.dtype.type not in FLOAT_DTYPES:
        raise FileProblem("wrong type", field="embeddings",
                          expected="a float16/float32/float64 array of shape (n_faces, dim)",
                          got=f"dtype {emb.dtype}, shape {emb.shape}")
    n = emb.shape[0]
    columns = {"face_ids": "face_id", "cluster_ids": "cluster_id", "identities": "identity"}
    data: dict[str, pd.Series] = {}
    face_ids = None
    for key, array in arrays.items():
        if array.shape != (n,):
            raise FileProblem("wrong shape", field=key, expected=f"shape ({n},), one per row "
                              "of 'embeddings'", got=f"shape {array.shape}")
        if key in columns:
            ids = _id_values(array, key)
            face_ids = ids if key == "face_ids" else face_ids
            data[columns[key]] = pd.Series(ids, dtype="str")
        elif key in _RESERVED:
            raise FileProblem(f"the array name {key!r} is reserved", field=key,
                              expected="another name", got=key)
        else:
            data[key] = pd.Series(array, dtype="str" if array.dtype.kind == "U" else None)
    if not lookup:
        data.setdefault("cluster_id", pd.Series([None] * n, dtype="str"))
    first = [c for c in ("face_id", "cluster_id", "identity") if c in data]
    frame = pd.DataFrame({c: data[c] for c in first + sorted(set(data) - set(first))},
                         index=pd.RangeIndex(n))

    def take(mask: np.ndarray | None) -> np.ndarray:
        return emb if mask is None or mask.all() else emb[mask]

    def raw_row(i: int) -> dict:
        row = {key: array[i].item() for key, array in arrays.items()}
        return {**row, "embeddings": emb[i].tolist()}

    return _VectorFile(label, "index", face_ids, frame, np.full(n, emb.shape[1], np.int64),
                       take, raw_row, None, emb.shape[1])


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(NPZ_SUFFIXES):
        return "npz"
    if path.is_dir() or name.endswith(JSON_SUFFIXES):
        return "records"
    raise ValueError(f"{path}: cannot tell the format from the name; expected one of "
                     f"{list(PARQUET_SUFFIXES + NPZ_SUFFIXES + JSON_SUFFIXES)} or a directory "
                     "of JSON files")


def _existing(path: Any) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    return path


def _open_vector_file(path: Path, collector: Collector, counts: ReadCounts,
                      *, lookup: bool) -> _VectorFile | None:
    """The opened file, or ``None`` after rejecting it as one unreadable record."""
    label = str(path)
    try:
        if path.stat().st_size == 0:
            raise FileProblem("the file is empty")
        if _kind(path) == "parquet":
            return _open_parquet(path, label, lookup=lookup)
        return _open_npz(path, label, lookup=lookup)
    except FileProblem as problem:
        problem.reject(collector, counts, label, None)
        return None


# --------------------------------------------------------------------------- validation

@dataclass
class _Vectors:
    """Rows of one or more vector files that passed the row checks."""

    files: list[_VectorFile]
    face_ids: np.ndarray       # object, str
    raw: np.ndarray            # (n, d) in the input's float dtype
    divisors: np.ndarray       # float64: what each row is divided by (1.0 if already unit)
    norms: np.ndarray          # float64: the L2 norm reported in the `norm` column
    frame: pd.DataFrame        # the rows' columns, positionally aligned
    file_index: np.ndarray     # int: which file each row came from
    positions: np.ndarray      # int: row within that file
    rejected_ids: dict         # face id -> source of its first rejected row
    dim: int

    def source(self, i: int) -> str:
        return self.files[self.file_index[i]].source(int(self.positions[i]))

    def raw_row(self, i: int) -> dict:
        return self.files[self.file_index[i]].raw_row(int(self.positions[i]))


def _chunks(n: int, dim: int, desc: str) -> Iterator[slice]:
    step = max(1, _CHUNK_BYTES // (8 * max(dim, 1)))
    starts = range(0, n, step)
    if n > _PROGRESS_MIN_ROWS:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc=desc, unit="chunk", leave=False)
    for start in starts:
        yield slice(start, min(start + step, n))


def _common_dim(files: list[_VectorFile]) -> int:
    """The most common embedding length (ties: the one seen first); 0 if none."""
    lengths = np.concatenate([f.lengths for f in files]) if files else np.zeros(0, np.int64)
    lengths = lengths[lengths > 0]
    if len(lengths) == 0:
        return next((f.fixed_dim for f in files if f.fixed_dim), 0)
    values, first, tally = np.unique(lengths, return_index=True, return_counts=True)
    best = np.flatnonzero(tally == tally.max())
    return int(values[best[np.argmin(first[best])]])


def _row_problems(file: _VectorFile, dim: int) -> tuple[np.ndarray, dict[int, FieldProblem]]:
    """Rows of one file that can become faces, and a problem for each other row."""
    problems: dict[int, FieldProblem] = {}
    for i in np.flatnonzero(file.lengths != dim):
        length = int(file.lengths[i])
        if length < 0:
            problems[i] = FieldProblem("missing embedding", field="embedding",
                                       expected=f"{dim} floats", got=None)
        else:
            problems[i] = FieldProblem(
                "embedding dimension mismatch", field="embedding",
                expected=f"{dim} values (the dimension of most rows)", got=length)
    for i in np.flatnonzero(pd.isna(file.face_ids)):
        problems.setdefault(i, FieldProblem("missing required field", field="face_id",
                                            expected="a non-empty string", got=None))
    ok = np.ones(len(file.lengths), dtype=bool)
    ok[list(problems)] = False
    return ok, problems


def _check_vectors(raw: np.ndarray, stored: np.ndarray | None,
                   desc: str) -> tuple[np.ndarray, np.ndarray, dict[int, FieldProblem]]:
    """Norms (float64) of each row and the rows whose vector is unusable."""
    n, dim = raw.shape
    norms = np.empty(n, dtype=np.float64)
    finite = np.empty(n, dtype=bool)
    for part in _chunks(n, dim, desc):
        block = raw[part].astype(np.float64)
        finite[part] = np.isfinite(block).all(axis=1)
        norms[part] = np.sqrt(np.einsum("ij,ij->i", block, block))
    problems: dict[int, FieldProblem] = {}
    for i in np.flatnonzero(~finite):
        bad = int(np.flatnonzero(~np.isfinite(raw[i].astype(np.float64)))[0])
        problems[i] = FieldProblem("embedding holds NaN, inf or missing values",
                                   field="embedding", expected="finite numbers",
                                   got=f"{raw[i][bad]} at position {bad}")
    for i in np.flatnonzero(finite & (norms == 0)):
        problems[i] = FieldProblem("zero-norm embedding: a vector of zeros has no direction",
                                   field="embedding", expected="a non-zero norm", got=0.0)
    for i in np.flatnonzero(finite & ~np.isfinite(norms)):
        problems[i] = FieldProblem("embedding too large: its norm overflows float64",
                                   field="embedding", expected="a finite norm", got=float("inf"))
    if stored is None:
        return norms, norms, problems
    # Written by FaceSet.to_parquet: rows are unit already, the raw norm is stored.
    for i in np.flatnonzero(np.abs(norms - 1.0) > _UNIT_TOLERANCE):
        problems.setdefault(i, FieldProblem(
            "the file says its embeddings are normalised (FaceSet.to_parquet) but this one is "
            "not unit length", field="embedding", expected="norm 1", got=f"norm {norms[i]:.6g}"))
    for i in np.flatnonzero(~(np.isfinite(stored) & (stored > 0))):
        problems.setdefault(i, FieldProblem("bad stored norm", field="norm",
                                            expected="a positive number", got=stored[i]))
    return np.ones(n), stored, problems


def _emit(problems: dict[int, FieldProblem], file: _VectorFile, collector: Collector,
          counts: ReadCounts, rejected_ids: dict) -> None:
    for pos in sorted(problems):
        fid = file.face_ids[pos]
        source = file.source(pos)
        if fid is not None:
            rejected_ids.setdefault(fid, source)
            problems[pos].reason = f"face {fid!r}: {problems[pos].reason}"
        problems[pos].reject(collector, counts, source, file.raw_row(pos))


def _validate(files: list[_VectorFile], collector: Collector, counts: ReadCounts) -> _Vectors:
    """Row checks across files: ids present, one dimension, finite and non-zero vectors."""
    dim = _common_dim(files)
    kept: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    rejected_ids: dict[str, str] = {}
    for k, file in enumerate(files):
        ok, problems = _row_problems(file, dim)
        positions = np.flatnonzero(ok)
        raw = file.take(ok) if len(positions) else np.zeros((0, dim), np.float32)
        stored = None if file.stored_norms is None else file.stored_norms[positions]
        divisors, norms, vector_problems = _check_vectors(raw, stored, f"checking {file.label}")
        problems.update({int(positions[i]): p for i, p in vector_problems.items()})
        # In file order, so errors="raise" stops at the first bad row.
        _emit(problems, file, collector, counts, rejected_ids)
        good = np.ones(len(positions), dtype=bool)
        good[list(vector_problems)] = False
        if not good.all():
            raw, divisors, norms, positions = raw[good], divisors[good], norms[good], positions[good]
        kept.append((k, positions, raw, divisors, norms))
    raws = [r for _, _, r, _, _ in kept]
    dtype = np.result_type(*[r.dtype for r in raws]) if raws else np.float32
    return _Vectors(
        files=files,
        face_ids=np.concatenate([files[k].face_ids[p] for k, p, *_ in kept]).astype(object)
        if kept else np.zeros(0, object),
        raw=(raws[0] if len(raws) == 1 else np.concatenate(raws).astype(dtype, copy=False))
        if raws else np.zeros((0, dim), np.float32),
        divisors=np.concatenate([d for *_, d, _ in kept]) if kept else np.zeros(0),
        norms=np.concatenate([n for *_, n in kept]) if kept else np.zeros(0),
        frame=pd.concat([files[k].frame.iloc[p] for k, p, *_ in kept], ignore_index=True)
        if kept else pd.DataFrame(),
        file_index=np.concatenate([np.full(len(p), k) for k, p, *_ in kept])
        if kept else np.zeros(0, int),
        positions=np.concatenate([p for _, p, *_ in kept]) if kept else np.zeros(0, int),
        rejected_ids=rejected_ids,
        dim=dim,
    )


def _fold_duplicates(vectors: _Vectors, collector: Collector, counts: ReadCounts) -> np.ndarray:
    """Rows to keep: one per face id. Equal repeats fold; differing repeats are all rejected."""
    ids = vectors.face_ids
    keep = np.ones(len(ids), dtype=bool)
    repeated = np.flatnonzero(pd.Series(ids, dtype=object).duplicated(keep=False).to_numpy())
    if len(repeated) == 0:
        return keep
    groups: dict[str, list[int]] = {}
    for i in repeated:
        groups.setdefault(ids[i], []).append(int(i))
    conflicts: list[tuple[int, str]] = []
    for fid, rows in groups.items():
        first = rows[0]
        same = all(np.array_equal(vectors.raw[first], vectors.raw[r])
                   and vectors.norms[first] == vectors.norms[r] for r in rows[1:])
        if same:
            keep[rows[1:]] = False
            counts.read += len(rows) - 1
            counts.duplicates += len(rows) - 1
            continue
        # Which vector is right cannot be told: none of them is used.
        keep[rows] = False
        where = ", ".join(vectors.source(r) for r in rows)
        vectors.rejected_ids.setdefault(fid, vectors.source(first))
        conflicts.extend((r, f"face {fid!r} occurs {len(rows)} times with different "
                             f"embeddings ({where})") for r in rows)
    for r, reason in sorted(conflicts):
        FieldProblem(reason, field="embedding", expected="one embedding per face id",
                     got="different vectors").reject(collector, counts, vectors.source(r),
                                                     vectors.raw_row(r))
    return keep


def _normalise(vectors: _Vectors, rows: np.ndarray) -> np.ndarray:
    """float32 unit rows of ``vectors.raw[rows]``, computed in float64 chunks."""
    out = np.empty((len(rows), vectors.dim), dtype=np.float32)
    # Usually every row is kept: slicing then avoids a fancy-indexed copy per chunk.
    whole = len(rows) == len(vectors.raw) and bool((rows == np.arange(len(rows))).all())
    for part in _chunks(len(rows), vectors.dim, "normalising"):
        idx = part if whole else rows[part]
        block = vectors.raw[idx].astype(np.float64)
        block /= vectors.divisors[idx, None]
        out[part] = block
    return out


# --------------------------------------------------------------------------- public

def read_faces(path: Any, *, embeddings: Any = None,
               errors: str = "raise") -> FaceSet | tuple[FaceSet, pd.DataFrame]:
    """Read faces and their embeddings into a :class:`~toolkit.FaceSet`.

    Embeddings are L2-normalised on load (cosine similarity becomes a dot
    product); each row's norm before normalisation is kept in the ``norm``
    column. Computation is in float64, the stored matrix is float32.

    Parameters
    ----------
    path : str, path-like, dict, list or SDK object
        One of

        - a Parquet file (``.parquet``, ``.pq``) with columns ``face_id``
          (strings; integers become their decimal strings), ``embedding``
          (a list or fixed-size list of float16/float32/float64 per row),
          optional ``cluster_id`` and ``identity`` (ground truth), and any
          attribute columns, kept as they are (``dataset``, ``age``, ...);
        - an NPZ archive (``.npz``) with arrays ``embeddings`` of shape
          (n_faces, dim) and ``face_ids`` of shape (n_faces,), optional
          ``cluster_ids`` and ``identities``; any other 1-D array of length
          n_faces becomes a column of that name;
        - IMM File records: a ``.json`` / ``.jsonl`` / ``.ndjson`` file
          (optionally ``.gz``), a directory of them, or in-memory dicts / SDK
          objects. Each File carries ``Figures[]``; SimpleQuery-like pages
          ``{"Files": [...]}`` and ``{"File": {...}}`` are accepted. Needs
          ``embeddings=``.
    embeddings : str, path-like or sequence of them, default=None
        Only with File records: Parquet or NPZ files (shards) holding the
        embeddings, keyed by face id (= the Figure's ``FigureId``). Their
        ``identity`` column (``identities`` array) is brought along; other
        columns are not read.
    errors : {"raise", "collect"}, default="raise"
        ``"raise"`` stops at the first bad record with a
        :class:`~toolkit.RecordError`; ``"collect"`` skips bad records and
        returns them.

    Returns
    -------
    faceset : FaceSet
        ``faces`` has one row per face: ``face_id``, ``cluster_id`` (missing,
        or IMM's reserved ``figure-cluster-id-independent`` /
        ``figure-cluster-id-unavailable``, means in no cluster; the raw value
        is kept), for File records ``file_id`` (the File's ObjectId, else its
        URI), ``uri``, ``dataset``, ``image_width`` and ``image_height`` (the
        File's ImageWidth / ImageHeight: the photo's size in pixels, the frame
        of the Boundary; Int64, present when some File gives them) and the
        Figure attributes in snake_case
        (``face_quality`` in [0, 1], ``boundary_left`` in pixels,
        ``head_pose_yaw`` in degrees, ``age``, ``gender``, ...), ``identity``
        when known, and ``norm`` (float64, > 0). ``embeddings`` is float32 of
        shape (n_faces, dim) with unit rows. ``counts`` holds ``read``,
        ``accepted``, ``duplicates``, ``rejected`` with
        ``read == accepted + duplicates + rejected``.
    rejected : DataFrame
        Only with ``errors="collect"``: ``source`` (``"f.parquet row 12"``,
        0-based; ``"f.npz index 12"``; ``"f.jsonl:3 Figures[0]"``, lines
        1-based), ``reason``, ``raw`` (the record).

    Raises
    ------
    FileNotFoundError
        ``path`` or an ``embeddings`` file does not exist.
    ValueError
        A bad argument (unknown suffix, File records without ``embeddings=``,
        an empty directory, ``errors`` not in the allowed values).
    RecordError
        With ``errors="raise"``, the first bad record: a malformed JSON line,
        a record of unknown shape, a missing or mistyped field, a dimension
        mismatch, a NaN / inf / zero vector, a face id repeated with
        different vectors, a face without an embedding or an embedding
        without a face, an unreadable, empty or truncated file, an NPZ
        holding object arrays.

    Notes
    -----
    The same face id with the same vector folds into one face (counted as a
    duplicate; the first row's attributes are kept); with different vectors
    every such row is rejected, because which one is right cannot be told.
    The embedding dimension is the most common row length; rows of another
    length are rejected. For File records, a Figure without an embedding and
    an embedding without a Figure are each a rejected record; an embedding
    row joined to its Figure is part of that one face record.

    Examples
    --------
    >>> import os, tempfile, pandas as pd, toolkit as tk
    >>> path = os.path.join(tempfile.mkdtemp(), "faces.parquet")
    >>> pd.DataFrame({"face_id": ["a", "b"], "cluster_id": ["c1", "c1"],
    ...               "embedding": [[3.0, 4.0], [0.0, 2.0]]}).to_parquet(path)
    >>> faces = tk.read_faces(path)
    >>> faces.faces["norm"].tolist(), faces.embeddings[0].tolist()
    ([5.0, 2.0], [0.6000000238418579, 0.800000011920929])
    """
    collector = Collector(errors)
    counts = ReadCounts()
    in_memory = not isinstance(path, (str, os.PathLike))
    kind = "records" if in_memory else _kind(_existing(path))
    if kind == "records":
        if embeddings is None:
            raise ValueError("IMM File records carry no embeddings: pass `embeddings=` a "
                             "Parquet or NPZ file keyed by face id (the Figure's FigureId)")
        shards = [embeddings] if isinstance(embeddings, (str, os.PathLike)) else list(embeddings)
        if not shards:
            raise ValueError("`embeddings=` names no file: pass a Parquet or NPZ path (or a "
                             "list of them)")
        shards = [_existing(p) for p in shards]
        for shard in shards:
            if shard.is_dir() or _kind(shard) == "records":
                raise ValueError(f"{shard}: embeddings come from Parquet or NPZ files "
                                 f"({', '.join(PARQUET_SUFFIXES + NPZ_SUFFIXES)})")
        faceset = _read_records(path, shards, collector, counts)
    else:
        if embeddings is not None:
            raise ValueError(f"{path}: `embeddings=` is only for IMM File records; a {kind} "
                             "file carries its own embeddings")
        faceset = _read_vector_file(Path(path), collector, counts)
    assert counts.is_balanced(), counts
    if collector.collecting:
        return faceset, collector.frame()
    return faceset


def _empty_faceset(dim: int, counts: ReadCounts) -> FaceSet:
    faces = pd.DataFrame({"face_id": pd.Series([], dtype="str"),
                          "cluster_id": pd.Series([], dtype="str"),
                          "norm": pd.Series([], dtype="float64")})
    return FaceSet(faces, np.zeros((0, dim), np.float32), counts.as_dict())


def _read_vector_file(path: Path, collector: Collector, counts: ReadCounts) -> FaceSet:
    file = _open_vector_file(path, collector, counts, lookup=False)
    if file is None:
        return _empty_faceset(0, counts)
    vectors = _validate([file], collector, counts)
    rows = np.flatnonzero(_fold_duplicates(vectors, collector, counts))
    counts.read += len(rows)
    counts.accepted += len(rows)
    faces = vectors.frame.iloc[rows].reset_index(drop=True) if len(rows) < len(vectors.face_ids) \
        else vectors.frame
    faces = faces.assign(norm=vectors.norms[rows])
    return FaceSet(faces, _normalise(vectors, rows), counts.as_dict())


def _read_records(source: Any, shards: list[Path], collector: Collector,
                  counts: ReadCounts) -> FaceSet:
    figures = _read_figures(source, collector, counts)
    files = [f for f in (_open_vector_file(p, collector, counts, lookup=True) for p in shards)
             if f is not None]
    vectors = _validate(files, collector, counts)
    rows = np.flatnonzero(_fold_duplicates(vectors, collector, counts))
    kept_ids = pd.Index(vectors.face_ids[rows], dtype=object)
    where = kept_ids.get_indexer(pd.Index(figures.face_ids, dtype=object))
    names = ", ".join(str(p) for p in shards)
    for i in np.flatnonzero(where < 0):
        fid = figures.face_ids[i]
        if fid in vectors.rejected_ids:
            reason = (f"face {fid!r} has no usable embedding: its row was rejected "
                      f"({vectors.rejected_ids[fid]})")
        else:
            reason = f"face {fid!r} has no embedding: no row with this face id in {names}"
        # The Figure was counted as read when it was parsed.
        FieldProblem(reason, field="FigureId", expected="a face id present in the embeddings",
                     got=fid).reject(collector, counts, figures.sources[i], figures.raws[i],
                                     already_read=True)
    matched = np.zeros(len(rows), dtype=bool)
    matched[where[where >= 0]] = True
    for j in np.flatnonzero(~matched):
        r = rows[j]
        fid = vectors.face_ids[r]
        FieldProblem(f"embedding without a face: no Figure has FigureId {fid!r}",
                     field="face_id", expected="a FigureId of the File records", got=fid,
                     ).reject(collector, counts, vectors.source(r), vectors.raw_row(r))
    found = np.flatnonzero(where >= 0)
    counts.accepted += len(found)
    emb_rows = rows[where[found]]
    identity = (vectors.frame["identity"].iloc[emb_rows]
                if "identity" in vectors.frame.columns else None)
    faces = _figure_frame([figures.face_ids[i] for i in found],
                          [figures.rows[i] for i in found], identity)
    faces = faces.assign(norm=vectors.norms[emb_rows])
    return FaceSet(faces, _normalise(vectors, emb_rows), counts.as_dict())
