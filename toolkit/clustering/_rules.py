"""The request rules of IMM's CreateFigureClustersMergingTask, kept as data.

The rules are an ordered table of :class:`MergeRule`; :func:`validate_merge_request`
walks it and raises the first violation as a :class:`~toolkit.errors.MergeError`.
The order matters: later checks may assume earlier ones passed (the length of
``Froms`` is only measured once ``Froms`` is known to be a sequence).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Container

import numpy as np
import pandas as pd

from ..errors import MergeError
from ..faceset import NO_CLUSTER_IDS

__all__ = ["MergeRule", "MERGE_RULES", "MAX_FROMS", "MAX_USER_DATA_BYTES",
           "UnknownClusterError", "validate_merge_request"]

#: Most source ids ``Froms`` may hold (CreateFigureClustersMergingTask).
MAX_FROMS = 100
#: Most bytes ``UserData`` may hold, counted in UTF-8.
MAX_USER_DATA_BYTES = 2048

# JSON integers beyond this range do not survive a round trip through orjson.
_INT_RANGE = (-(2 ** 63), 2 ** 64 - 1)
_SEQUENCE_TYPES = (list, tuple, np.ndarray, pd.Series, pd.Index)


class UnknownClusterError(MergeError, KeyError):
    """A cluster id names no live cluster (IMM code ``ResourceNotFound``).

    Both a :class:`~toolkit.errors.MergeError` and a :class:`KeyError`, so
    ``except KeyError`` works for look-ups.

    Parameters
    ----------
    code : str
        ``"ResourceNotFound"``.
    field : str
        The argument or request field that named the cluster (``"cluster_id"``,
        ``"To"``, ``"From"``, ``"Froms"``).
    value : object
        The id received.
    rule : str
        Why it names no cluster, in words.

    Examples
    --------
    >>> import numpy as np
    >>> from toolkit.clustering import ClusterState
    >>> state = ClusterState.from_arrays(np.eye(2), ["Cluster-a", "Cluster-b"])
    >>> try:
    ...     state.cluster_index("Cluster-z")
    ... except KeyError as err:
    ...     print(type(err).__name__, err.code, err.value)
    UnknownClusterError ResourceNotFound Cluster-z
    """

    def __str__(self) -> str:
        # KeyError would print the message as a quoted repr.
        return str(self.args[0])


@dataclass(frozen=True)
class _Request:
    to: Any
    from_: Any
    froms: Any
    user_data: Any
    tags: Any
    existing: Container[str] | None

    @property
    def sources(self) -> list[Any]:
        return [self.from_] if self.froms is None else list(self.froms)

    @property
    def source_field(self) -> str:
        return "From" if self.froms is None else "Froms"


# A check returns None when the request passes, else (offending value, detail).
_Check = Callable[[_Request], "tuple[Any, str] | None"]


@dataclass(frozen=True)
class MergeRule:
    """One rule of a merge request.

    Attributes
    ----------
    code : str
        The IMM error code a violation carries: ``"MissingParameter"``,
        ``"InvalidArgument"`` or ``"ResourceNotFound"``.
    field : str
        The request field the rule is about (``"To"``, ``"From"``, ``"Froms"``,
        ``"From/Froms"``, ``"UserData"``, ``"Tags"``).
    rule : str
        The rule in words, as it appears in the error message.
    needs_existing : bool
        Whether the rule checks existence and so only runs when the set of
        existing cluster ids is known.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> size = [r for r in MERGE_RULES if r.field == "UserData"][-1]
    >>> size.code, size.rule
    ('InvalidArgument', 'UserData must be at most 2048 bytes in UTF-8')
    >>> size.apply(SimpleNamespace(user_data="x" * 2048, tags=None, existing=None))
    >>> try:
    ...     size.apply(SimpleNamespace(user_data="x" * 2049, tags=None, existing=None))
    ... except MergeError as err:
    ...     print(err.field, err.code)
    UserData InvalidArgument
    """

    code: str
    field: str
    rule: str
    check: _Check
    needs_existing: bool = False

    def apply(self, request: Any) -> None:
        """Raise :class:`~toolkit.errors.MergeError` if ``request`` breaks this rule.

        ``request`` is any object with the attributes a rule reads: ``to``,
        ``from_``, ``froms``, ``user_data``, ``tags`` and ``existing`` (None =
        do not check existence). The ``UserData`` and ``Tags`` rules read only
        ``user_data``, ``tags`` and ``existing``, so other create-task calls
        can reuse them with a ``SimpleNamespace(user_data=..., tags=...,
        existing=None)``.
        """
        if self.needs_existing and request.existing is None:
            return
        failure = self.check(request)
        if failure is None:
            return
        value, detail = failure
        text = f"{self.rule}{'; ' + detail if detail else ''}"
        cls = UnknownClusterError if self.code == "ResourceNotFound" else MergeError
        raise cls(self.code, self.field, value, text)


def _id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a cluster id, or None when it can."""
    if not isinstance(value, str):
        return f"it is a {type(value).__name__}, not a string"
    if value == "":
        return "it is the empty string"
    if value in NO_CLUSTER_IDS:
        return "it is a reserved id meaning 'in no cluster', not a cluster"
    return None


def _check_to_given(req: _Request):
    return (req.to, "") if req.to is None else None


def _check_to_id(req: _Request):
    problem = _id_problem(req.to)
    return (req.to, problem) if problem else None


def _check_some_source(req: _Request):
    return (None, "") if req.from_ is None and req.froms is None else None


def _check_one_source_field(req: _Request):
    if req.from_ is not None and req.froms is not None:
        return ({"From": req.from_, "Froms": req.froms}, "")
    return None


def _check_from_id(req: _Request):
    if req.froms is not None:
        return None
    problem = _id_problem(req.from_)
    return (req.from_, problem) if problem else None


def _check_froms_sequence(req: _Request):
    if req.froms is None:
        return None
    if isinstance(req.froms, _SEQUENCE_TYPES) and np.ndim(req.froms) == 1:
        return None
    if isinstance(req.froms, str):
        return (req.froms, "a single id was passed as Froms; pass it as from_ or as [id]")
    return (req.froms, f"got a {type(req.froms).__name__}")


def _check_froms_length(req: _Request):
    if req.froms is None:
        return None
    n = len(req.froms)
    if 1 <= n <= MAX_FROMS:
        return None
    return (req.froms, f"got {n}")


def _check_froms_ids(req: _Request):
    if req.froms is None:
        return None
    for i, value in enumerate(req.froms):
        problem = _id_problem(value)
        if problem:
            return (value, f"Froms[{i}]: {problem}")
    return None


def _check_froms_distinct(req: _Request):
    if req.froms is None:
        return None
    seen: set[str] = set()
    for i, value in enumerate(req.froms):
        if value in seen:
            return (value, f"Froms[{i}] repeats an earlier id")
        seen.add(value)
    return None


def _check_to_not_source(req: _Request):
    if req.to in req.sources:
        return (req.to, f"it is also given in {req.source_field}")
    return None


def _check_user_data_type(req: _Request):
    if req.user_data is None or isinstance(req.user_data, str):
        return None
    return (req.user_data, f"got a {type(req.user_data).__name__}")


def _check_user_data_size(req: _Request):
    if req.user_data is None:
        return None
    try:
        size = len(req.user_data.encode("utf-8"))
    except UnicodeEncodeError as exc:
        return (req.user_data, f"it cannot be encoded as UTF-8 ({exc.reason})")
    if size <= MAX_USER_DATA_BYTES:
        return None
    return (req.user_data, f"this one is {size} bytes ({len(req.user_data)} characters)")


def _check_tags_mapping(req: _Request):
    if req.tags is None or isinstance(req.tags, Mapping):
        return None
    return (req.tags, f"got a {type(req.tags).__name__}")


def _json_problem(value: Any, path: str) -> str | None:
    """Why ``value`` is not plain JSON, naming where inside Tags, or None."""
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        if _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            return None
        return f"{path} is an integer outside the 64-bit range JSON tools keep"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value!r}, which JSON cannot hold"
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has the key {key!r}, a {type(key).__name__}; keys must be strings"
            problem = _json_problem(item, f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    return f"{path} is a {type(value).__name__}, not a JSON value"


def _check_tags_json(req: _Request):
    if req.tags is None:
        return None
    problem = _json_problem(req.tags, "Tags")
    return (req.tags, problem) if problem else None


def _check_to_exists(req: _Request):
    return None if req.to in req.existing else (req.to, "")


def _check_sources_exist(req: _Request):
    for i, value in enumerate(req.sources):
        if value not in req.existing:
            where = "From" if req.froms is None else f"Froms[{i}]"
            return (value, f"{where} is not a live cluster")
    return None


#: The rules in the order they are checked.
MERGE_RULES: tuple[MergeRule, ...] = (
    MergeRule("MissingParameter", "To", "To (the destination cluster id) is required",
              _check_to_given),
    MergeRule("InvalidArgument", "To", "To must be a non-empty, non-reserved cluster id string",
              _check_to_id),
    MergeRule("MissingParameter", "From/Froms", "exactly one of From and Froms must be given; "
              "neither was", _check_some_source),
    MergeRule("InvalidArgument", "From/Froms", "exactly one of From and Froms must be given; "
              "both were", _check_one_source_field),
    MergeRule("InvalidArgument", "From", "From must be a non-empty, non-reserved cluster id "
              "string", _check_from_id),
    MergeRule("InvalidArgument", "Froms", "Froms must be a list of cluster id strings",
              _check_froms_sequence),
    MergeRule("InvalidArgument", "Froms", f"Froms must hold 1 to {MAX_FROMS} ids",
              _check_froms_length),
    MergeRule("InvalidArgument", "Froms", "every Froms entry must be a non-empty, non-reserved "
              "cluster id string", _check_froms_ids),
    MergeRule("InvalidArgument", "Froms", "Froms ids must be distinct", _check_froms_distinct),
    MergeRule("InvalidArgument", "To", "To must not be one of the source clusters",
              _check_to_not_source),
    MergeRule("InvalidArgument", "UserData", "UserData must be a string", _check_user_data_type),
    MergeRule("InvalidArgument", "UserData", f"UserData must be at most {MAX_USER_DATA_BYTES} "
              "bytes in UTF-8", _check_user_data_size),
    MergeRule("InvalidArgument", "Tags", "Tags must be a mapping", _check_tags_mapping),
    MergeRule("InvalidArgument", "Tags", "Tags must have string keys and plain JSON values",
              _check_tags_json),
    MergeRule("ResourceNotFound", "To", "To must name an existing cluster", _check_to_exists,
              needs_existing=True),
    MergeRule("ResourceNotFound", "From/Froms", "every source must name an existing cluster",
              _check_sources_exist, needs_existing=True),
)


def validate_merge_request(to: Any, froms: Any = None, from_: Any = None, user_data: Any = None,
                           tags: Any = None, *, existing: Container[str] | None = None
                           ) -> list[str]:
    """Check a merge request against CreateFigureClustersMergingTask's rules.

    The rules, in the order they are checked (see :data:`MERGE_RULES`):
    ``To`` is required and is a cluster id; exactly one of ``From`` / ``Froms``
    is given (neither: ``MissingParameter``; both: ``InvalidArgument``);
    ``From`` is a cluster id; ``Froms`` is a list of 1 to 100 distinct cluster
    ids; ``To`` is not a source; ``UserData`` is a string of at most 2048 bytes
    in UTF-8; ``Tags`` is a mapping with string keys and plain JSON values;
    and, when ``existing`` is given, ``To`` and every source exist. A cluster
    id is a non-empty string that is not one of IMM's reserved "no cluster" ids.

    Parameters
    ----------
    to : str
        Destination cluster id (``To``).
    froms : sequence of str, default=None
        Source cluster ids (``Froms``), in order. Pass this or ``from_``.
    from_ : str, default=None
        A single source cluster id (``From``).
    user_data : str, default=None
        Caller data echoed back by the task (``UserData``).
    tags : mapping, default=None
        Task tags (``Tags``).
    existing : container of str, default=None
        The ids of the clusters that exist; when given, ``To`` and every
        source must be in it (code ``ResourceNotFound``).

    Returns
    -------
    sources : list of str
        The source ids in request order: ``[from_]`` or ``list(froms)``.

    Raises
    ------
    toolkit.errors.MergeError
        The first broken rule, with its IMM-style ``code``, the ``field``, the
        ``value`` received and the ``rule`` in words.
        :class:`UnknownClusterError` (a subclass) for ``ResourceNotFound``.

    Examples
    --------
    >>> validate_merge_request("Cluster-b", froms=["Cluster-a", "Cluster-c"])
    ['Cluster-a', 'Cluster-c']
    >>> validate_merge_request("Cluster-b", from_="Cluster-b")
    Traceback (most recent call last):
    ...
    toolkit.errors.MergeError: InvalidArgument: To='Cluster-b': To must not be one of the \
source clusters; it is also given in From
    """
    request = _Request(to, from_, froms, user_data, tags, existing)
    for rule in MERGE_RULES:
        rule.apply(request)
    return [str(s) for s in request.sources]
