"""The merge history a reviewer produced after the export, with its truth.

Most merges join fragments of one person (``Froms`` of 2-3 ids, or ``From``);
a few wrongly join look-alike siblings, one or two join strangers; some fail
(a cluster that does not exist, the destination among the sources), one
repeats a merge whose source was already merged away (recorded as Succeeded),
and the last one is still running. A few more merges run in a second dataset. Every cluster is
used as a source at most once and never after being a destination's source,
so replaying the history in time order is valid except where it should fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson

from ._clock import MINUTE, NS
from ._faces import DATASET, World
from ._ids import event_ids, request_ids, uuid4s

__all__ = ["MergeTask", "plan_merges", "PROJECT", "OTHER_DATASET", "KINDS", "MERGE_TYPE"]

PROJECT = "audit-proj"
OTHER_DATASET = "work-photos"
MERGE_TYPE = "FigureClustersMerging"
#: ``kind`` values of ``truth/merges.csv``.
KINDS = ("fragment", "lookalike", "unrelated", "failed", "running", "vanished")
_PEOPLE = ("alice", "bob", "chen", "dana")
_NOT_FOUND = "The specified figure cluster {} does not exist in dataset {}."
_TO_IN_FROMS = "The destination cluster {} must not also be a source (Froms)."


@dataclass
class MergeTask:
    """One CreateFigureClustersMergingTask call and how it ended."""

    kind: str  # one of KINDS, or "other-dataset"
    dataset: str
    to: str
    sources: list[str]
    use_froms: bool
    status: str = "Succeeded"
    code: str = ""
    message: str = ""
    task_id: str = ""
    request_id: str = ""
    event_id: str = ""
    start: int = 0
    end: int | None = None
    progress: int | None = None
    user_data: str = ""
    tags: dict | None = None
    has_definition: bool = False
    in_log: bool = False
    froms_as_text: bool = False
    identities: list[str] = field(default_factory=list)  # majority identity of [to, *sources]

    @property
    def correct(self) -> bool:
        """Applying the request would be right: one person, every cluster alive."""
        return self.kind in ("fragment", "running")

    def request(self) -> dict:
        """The CreateFigureClustersMergingTask parameters, as the caller passed them."""
        req: dict = {"ProjectName": PROJECT, "DatasetName": self.dataset, "To": self.to}
        if self.use_froms:
            req["Froms"] = list(self.sources)
        else:
            req["From"] = self.sources[0]
        if self.user_data:
            req["UserData"] = self.user_data
        if self.tags is not None:
            req["Tags"] = dict(self.tags)
        return req


class _Pool:
    """Clusters per majority identity, largest first; tracks which were used."""

    def __init__(self, world: World) -> None:
        clusters = world.clustering.clusters.sort_values(["n_faces", "cluster_id"],
                                                         ascending=[False, True])
        self.by_identity: dict[str, list[str]] = {}
        for cid, ident in zip(clusters["cluster_id"], clusters["identity"]):
            self.by_identity.setdefault(str(ident), []).append(str(cid))
        self.identity_of = {c: i for i, cs in self.by_identity.items() for c in cs}
        self.sources: set[str] = set()
        self.targets: set[str] = set()

    def free(self, identity: str) -> list[str]:
        """Clusters of ``identity`` not yet used as a source or destination, largest first."""
        return [c for c in self.by_identity.get(identity, [])
                if c not in self.sources and c not in self.targets]

    def target(self, identity: str) -> str | None:
        """The identity's largest cluster not merged away."""
        alive = [c for c in self.by_identity.get(identity, []) if c not in self.sources]
        return alive[0] if alive else None

    def use(self, to: str, sources: list[str]) -> None:
        self.targets.add(to)
        self.sources.update(sources)


def _wrong_merges(rng: np.random.Generator, world: World, pool: _Pool, n_lookalike: int,
                  n_unrelated: int) -> list[MergeTask]:
    names = world.population.identities["identity"].to_numpy().astype(str)
    out: list[MergeTask] = []
    for row in rng.permutation(len(world.population.pairs)).tolist():
        if len(out) == n_lookalike:
            break
        x, y = names[world.population.pairs[row][rng.permutation(2)]]
        to, free = pool.target(x), pool.free(y)
        if to is None or not free:
            continue
        out.append(MergeTask("lookalike", DATASET, to, [free[-1]], use_froms=False))
        pool.use(to, [free[-1]])
    siblings = {frozenset(names[p]) for p in world.population.pairs}
    tries = 0
    while sum(t.kind == "unrelated" for t in out) < n_unrelated and tries < 1000:
        tries += 1
        x, y = names[rng.choice(len(names), 2, replace=False)]
        if frozenset((x, y)) in siblings:
            continue
        to, free = pool.target(x), pool.free(y)
        if to is None or not free:
            continue
        out.append(MergeTask("unrelated", DATASET, to, [free[-1]], use_froms=False))
        pool.use(to, [free[-1]])
    return out


def _fragment_merges(rng: np.random.Generator, pool: _Pool, n_merges: int) -> list[MergeTask]:
    out: list[MergeTask] = []
    identities = sorted(pool.by_identity)
    for i in rng.permutation(len(identities)).tolist():
        if len(out) >= n_merges:
            break
        ident = identities[i]
        to = pool.target(ident)
        sources = [c for c in pool.free(ident) if c != to][:3]
        if to is None or not sources:
            continue
        # Sometimes the reviewer merges one fragment first and the rest later.
        if len(sources) >= 2 and rng.random() < 0.4:
            groups = [sources[:1], sources[1:]]
        else:
            groups = [sources]
        for group in groups:
            use_froms = len(group) > 1 or rng.random() < 0.2
            out.append(MergeTask("fragment", DATASET, to, group, use_froms=use_froms))
        pool.use(to, sources)
    return out


def _failed_merges(rng: np.random.Generator, pool: _Pool, other_clusters: list[str]
                   ) -> list[MergeTask]:
    identities = sorted(i for i in pool.by_identity if pool.target(i) is not None)
    to = [pool.target(identities[i]) for i in rng.choice(len(identities), 3, replace=False)]
    ghost = "Cluster-" + str(uuid4s(rng, 1)[0])
    out = [
        MergeTask("failed", DATASET, to[0], [ghost], use_froms=False, status="Failed",
                  code="ResourceNotFound", message=_NOT_FOUND.format(ghost, DATASET)),
        # A cluster id copied from the other dataset: clustering never crosses datasets.
        MergeTask("failed", DATASET, to[1], [other_clusters[0]], use_froms=False,
                  status="Failed", code="ResourceNotFound",
                  message=_NOT_FOUND.format(other_clusters[0], DATASET)),
    ]
    sibling = [c for c in pool.by_identity[pool.identity_of[to[2]]] if c != to[2]]
    out.append(MergeTask("failed", DATASET, to[2], [to[2]] + sibling[:1], use_froms=True,
                         status="Failed", code="InvalidArgument",
                         message=_TO_IN_FROMS.format(to[2])))
    return out


def _order(rng: np.random.Generator, tasks: list[MergeTask], vanished: MergeTask,
           original: MergeTask, running: MergeTask) -> list[MergeTask]:
    order = [tasks[i] for i in rng.permutation(len(tasks)).tolist()]
    # The repeat comes after the merge that consumed its source.
    at = order.index(original)
    order.insert(int(rng.integers(at + 1, len(order) + 1)), vanished)
    return order + [running]


def _user_data(rng: np.random.Generator, tasks: list[MergeTask]) -> None:
    script = int(rng.integers(0, len(tasks)))
    plain = int(rng.integers(0, len(tasks)))
    if plain == script:
        plain = (plain + 1) % len(tasks)
    for i, task in enumerate(tasks):
        who = _PEOPLE[int(rng.integers(0, len(_PEOPLE)))]
        if i == script:
            who = "<script>alert(1)</script>"  # must come out escaped in HTML and widgets
        data = {"ticket": f"FC-{101 + i}", "by": who}
        task.user_data = ("merged from the console" if i == plain
                          else orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode())
        roll = rng.random()
        task.tags = (None if roll < 0.2 else {"purpose": "manual-merge"} if roll < 0.7
                     else {"purpose": "manual-merge", "reviewer": who})


def _times(rng: np.random.Generator, tasks: list[MergeTask], start: int) -> int:
    """Start and end times in order; returns the instant the records were fetched."""
    t = start
    for task in tasks:
        t += int(45 * NS + rng.exponential(12 * MINUTE))
        task.start = t
        if task.status == "Failed":
            task.end = t + int(rng.uniform(0.15, 1.2) * NS)
        elif task.status == "Succeeded":
            task.end = t + int(rng.uniform(1.2, 4.0) * len(task.sources) * NS)
    running = tasks[-1]
    running.progress = int(rng.integers(20, 80))
    return running.start + int(rng.uniform(8, 25) * NS)


def plan_merges(rng: np.random.Generator, world: World) -> tuple[list[MergeTask], int]:
    """The merge tasks in time order, and the instant GetTask/ListTasks were fetched.

    Raises
    ------
    ValueError
        The faces are too few to plan every kind of merge.
    """
    k = world.population.n_identities
    pool = _Pool(world)
    other_clusters = ["Cluster-" + str(u) for u in uuid4s(rng, 6)]
    wrong = _wrong_merges(rng, world, pool, n_lookalike=min(8, max(1, round(0.75 * len(
        world.population.pairs)))), n_unrelated=2 if k >= 20 else 1)
    fragments = _fragment_merges(rng, pool, n_merges=max(4, round(0.2 * k)) + 1)
    singles = [t for t in fragments[:-1] if len(t.sources) == 1]
    if not any(t.kind == "lookalike" for t in wrong) or len(fragments) < 3 or not singles:
        raise ValueError(f"{world.faces.shape[0]} faces of {k} identities are too few to plan "
                         "every kind of merge; use at least 800 faces of 30 identities.")
    running = fragments.pop()
    running.kind, running.status = "running", "Running"
    original = singles[0]
    # The cloud's docs leave open whether a merged-away source is deleted or left empty;
    # the record says Succeeded (a no-op on an emptied cluster), so only a replay shows it.
    vanished = MergeTask("vanished", DATASET, original.to, list(original.sources),
                         use_froms=False)
    failed = _failed_merges(rng, pool, other_clusters)
    other = [MergeTask("other-dataset", OTHER_DATASET, other_clusters[1], other_clusters[2:4],
                       use_froms=True),
             MergeTask("other-dataset", OTHER_DATASET, other_clusters[1], other_clusters[4:5],
                       use_froms=False),
             MergeTask("other-dataset", OTHER_DATASET, other_clusters[0], other_clusters[5:6],
                       use_froms=False)]
    tasks = _order(rng, fragments + wrong + failed + other, vanished, original, running)

    _user_data(rng, tasks)
    fetched = _times(rng, tasks, world.timeline.merges_start)
    ids = uuid4s(rng, len(tasks))
    prefixed = rng.random(len(tasks)) < 0.5
    requests, events = request_ids(rng, len(tasks)), event_ids(rng, len(tasks))
    definition = rng.random(len(tasks)) < 0.5
    logged = rng.random(len(tasks)) < 0.3
    # Whatever the draw, Froms occurs in a definition as a list, in one as JSON text (as the
    # wire request carries it) and in the log alone.
    with_froms = [i for i, t in enumerate(tasks) if t.use_froms and len(t.sources) > 1]
    for i, flag in zip(with_froms, (True, True, False)):
        definition[i] = flag
    if with_froms:
        tasks[with_froms[0]].froms_as_text = True
    for i, task in enumerate(tasks):
        task.task_id = f"{MERGE_TYPE}-{ids[i]}" if prefixed[i] else str(ids[i])
        task.request_id, task.event_id = str(requests[i]), str(events[i])
        task.has_definition = bool(definition[i])
        task.in_log = not task.has_definition or bool(logged[i])
        task.identities = [pool.identity_of.get(c, "") for c in [task.to, *task.sources]]
    return tasks, fetched
