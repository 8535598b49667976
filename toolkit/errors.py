"""Exception types shared across the toolkit.

Every error names where the bad value came from (a file and line, or
``"object"`` for in-memory input), the field, what was expected and what came.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RecordError", "MergeError", "ImmError", "ViasError"]


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RecordError(ValueError):
    """A record could not be read.

    Parameters
    ----------
    source : str
        Where the record came from: ``"path/to/file.jsonl:12"`` or ``"object"``.
    reason : str
        What is wrong, in words.
    field : str, optional
        The offending field (dotted path for nested fields).
    expected : str, optional
        What the field should hold.
    got : object, optional
        What it held.

    Examples
    --------
    >>> err = RecordError("tasks.jsonl:3", "bad task record", field="Progress",
    ...                   expected="an integer from 0 to 100", got=150)
    >>> print(err)
    tasks.jsonl:3: bad task record; field 'Progress'; expected an integer from 0 to 100, got 150
    """

    def __init__(self, source: str, reason: str, *, field: str | None = None,
                 expected: str | None = None, got: Any = None) -> None:
        self.source = source
        self.reason = reason
        self.field = field
        self.expected = expected
        self.got = got
        parts = [f"{source}: {reason}"]
        if field is not None:
            parts.append(f"field {field!r}")
        if expected is not None:
            parts.append(f"expected {expected}, got {_short(got)}")
        super().__init__("; ".join(parts))


class MergeError(ValueError):
    """A merge request breaks a CreateFigureClustersMergingTask rule.

    Attributes
    ----------
    code : str
        IMM-style error code: ``"MissingParameter"``, ``"InvalidArgument"`` or
        ``"ResourceNotFound"``.
    field : str
        The request field at fault (``"From"``, ``"Froms"``, ``"To"``, ...).
    value : object
        The value received.
    rule : str
        The rule that was broken, in words.

    Examples
    --------
    >>> err = MergeError("InvalidArgument", "Froms", [], "Froms must hold 1 to 100 ids")
    >>> err.code, str(err)
    ('InvalidArgument', 'InvalidArgument: Froms=[]: Froms must hold 1 to 100 ids')
    """

    def __init__(self, code: str, field: str, value: Any, rule: str) -> None:
        self.code = code
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{code}: {field}={_short(value)}: {rule}")


class ImmError(Exception):
    """An IMM API call was rejected (the local engine's equivalent of a 4xx).

    Attributes
    ----------
    code : str
        IMM error code, e.g. ``"InvalidArgument"``.
    message : str
        Human-readable message.
    status_code : int
        HTTP status the cloud would answer with (400, 404).
    request_id : str or None
        Id of the rejected request.

    Examples
    --------
    >>> err = ImmError("ResourceNotFound", "The specified task 't-1' is not found.", 404)
    >>> err.code, err.status_code
    ('ResourceNotFound', 404)
    >>> print(err)
    404 ResourceNotFound: The specified task 't-1' is not found.
    """

    def __init__(self, code: str, message: str, status_code: int = 400,
                 request_id: str | None = None) -> None:
        self.code = code
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        super().__init__(f"{status_code} {code}: {message}")


class ViasError(Exception):
    """A Huawei VIAS API call was rejected.

    Attributes
    ----------
    status_code : int
        HTTP status (400, 404, 500).
    body : dict
        The Huawei error body: ``error_code``, ``error_msg``, ``detail``,
        ``params``, ``reason``, ``advice``.

    Examples
    --------
    >>> err = ViasError(400, {"error_code": "VIAS.00010001",
    ...                       "error_msg": "Invalid parameter: name.", "detail": "too long",
    ...                       "params": ["name"], "reason": "Invalid parameter.",
    ...                       "advice": "Fix the body and retry."})
    >>> err.status_code, err.body["params"]
    (400, ['name'])
    >>> print(err)
    400 VIAS.00010001: Invalid parameter: name. (too long)
    """

    def __init__(self, status_code: int, body: dict) -> None:
        self.status_code = status_code
        self.body = dict(body)
        super().__init__(f"{status_code} {body.get('error_code')}: {body.get('error_msg')}"
                         f" ({body.get('detail')})")
