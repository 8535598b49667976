"""Task status vocabularies of IMM and Huawei VIAS, and the normalised states.

Every task row carries its raw ``status`` and a normalised ``state``, one of
:data:`STATES`. The mapping:

IMM (``Status``, compared case-insensitively because the GetTask page also
shows ``"RUNNING"``): ``Running`` -> running, ``Succeeded`` -> succeeded,
``Failed`` -> failed. Any other value is a bad record: the documented set has
no other member, so an unknown value means the record is not what it claims.

Huawei VIAS (``state``, compared case-insensitively because the 2024 API
definition writes it lower case and the 2025 pages upper case):

========== ==================================================================
state      raw values
========== ==================================================================
pending    pending, scheduling, starting, recovering, upgrading,
           lack_of_resources
running    running
succeeded  succeeded
failed     failed, create_failed, start_failed, abnormal
stopped    stopping, stopped, stopped_no_service, freezing, frozen, deleting
other      anything else (the reader warns once, naming the values)
========== ==================================================================

A Huawei batch has no status of its own, only counts of member tasks per
state (``batch_task_status_info``). Its state is derived from those counts
by :func:`batch_state`.
"""

from __future__ import annotations

from typing import Mapping

__all__ = ["STATES", "STATE_RANK", "IMM_STATES", "VIAS_STATES", "imm_state", "vias_state",
           "batch_state", "FAILED_GROUP"]

STATES = ("pending", "running", "succeeded", "failed", "stopped", "other")

# How far along a task is: when one task is seen several times, the most advanced
# record wins. "other" (an undocumented Huawei value) ranks above pending only:
# it says something happened, not what.
STATE_RANK = {"pending": 0, "other": 1, "running": 2, "succeeded": 3, "failed": 3, "stopped": 3}

IMM_STATES = {"running": "running", "succeeded": "succeeded", "failed": "failed"}

VIAS_STATES = {
    **dict.fromkeys(("pending", "scheduling", "starting", "recovering", "upgrading",
                     "lack_of_resources"), "pending"),
    "running": "running",
    "succeeded": "succeeded",
    **dict.fromkeys(("failed", "create_failed", "start_failed", "abnormal"), "failed"),
    **dict.fromkeys(("stopping", "stopped", "stopped_no_service", "freezing", "frozen",
                     "deleting"), "stopped"),
}

FAILED_GROUP = tuple(k for k, v in VIAS_STATES.items() if v == "failed")


def imm_state(status: str) -> str | None:
    """Normalised state of an IMM ``Status``; ``None`` when it is not a documented value.

    >>> imm_state("RUNNING")
    'running'
    """
    return IMM_STATES.get(status.lower())


def vias_state(state: str) -> str:
    """Normalised state of a Huawei VIAS task ``state``; ``"other"`` when unknown.

    >>> vias_state("START_FAILED")
    'failed'
    """
    return VIAS_STATES.get(state.lower(), "other")


def batch_state(counts: Mapping[str, int]) -> str:
    """State of a Huawei batch from its member-task counts per raw state.

    The rule, first match wins:

    1. any member running -> ``"running"``;
    2. else any member pending (pending, scheduling, starting, recovering,
       upgrading, lack_of_resources) -> ``"pending"``;
    3. else no member at all (every count 0 or absent) -> ``"pending"``: the
       batch exists but has not fanned out yet;
    4. else (every member at rest) any failed -> ``"failed"``, else any
       stopped -> ``"stopped"``, else any undocumented value -> ``"other"``,
       else ``"succeeded"`` (every member succeeded).

    Parameters
    ----------
    counts : mapping of str to int
        ``batch_task_status_info``: keys are raw states in any case, values
        non-negative member counts.

    Returns
    -------
    str
        One of :data:`STATES`.

    Examples
    --------
    >>> batch_state({"running": 2, "start_failed": 1})
    'running'
    >>> batch_state({"succeeded": 3, "stopped": 1})
    'stopped'
    """
    per_state = dict.fromkeys(STATES, 0)
    for raw, count in counts.items():
        per_state[vias_state(raw)] += count
    if per_state["running"]:
        return "running"
    if per_state["pending"] or not any(per_state.values()):
        return "pending"
    for state in ("failed", "stopped", "other"):
        if per_state[state]:
            return state
    return "succeeded"
