"""The ``README.md`` written next to the sample data: what every file holds."""

from __future__ import annotations


from ._clock import rfc3339
from ._faces import DATASET, World
from ._merges import KINDS, OTHER_DATASET, PROJECT
from ._photos import BUCKET
from ._portraits import IMAGES_DIR, STORED_SIDE, THUMBNAILS_PER_CLUSTER

__all__ = ["readme_text"]


def _when(ns: int) -> str:
    return rfc3339(ns, digits=0, zone="Z")


def readme_text(world: World, params: dict, contents: dict[str, tuple[bytes, int]],
                summary: dict) -> str:
    faces, pop, tl = world.faces, world.population, world.timeline
    reserved = faces["cluster_id"].value_counts()
    independent = int(reserved.get("figure-cluster-id-independent", 0))
    unavailable = int(reserved.get("figure-cluster-id-unavailable", 0))
    clusters = world.clustering.clusters
    impure = int((clusters["purity"] < 1).sum())
    sizes = pop.identities["n_faces"]
    kinds = summary["kinds"]
    images = {rel: v for rel, v in contents.items() if rel.startswith(f"{IMAGES_DIR}/")}
    # The photos take one line, where the first of them would be.
    image_row = (f"| `{IMAGES_DIR}/` ({len(images)} files) | {sum(n for _, n in images.values()):,}"
                 f" | {sum(len(data) for data, _ in images.values()):,} |")
    table = []
    for rel, (data, n) in contents.items():
        if rel in images:
            if image_row not in table:
                table.append(image_row)
        elif rel != "README.md":
            table.append(f"| `{rel}` | {n:,} | {len(data):,} |")
    rows = "\n".join(table)
    total = sum(len(data) for data, _ in contents.values())
    kind_text = ", ".join(f"{kinds.get(k, 0)} {k}" for k in KINDS)
    batch_pages = ", ".join(f"`tasks_{b}.json`" for b in summary["batch_ids"])
    return f"""# Sample data

Synthetic, deterministic data for the toolkit's tests, notebooks and examples. Every id, name,
path and value is invented. Regenerate with

    python -m toolkit sample-data sample_data --seed {params['seed']}

(`toolkit.sampledata.make_sample_data`); the same arguments write the same content.
This set: seed {params['seed']}, similarity scale `{params['similarity_scale']}`,
model `{params['model']}`, {params['n_faces']:,} faces of {params['n_identities']} people,
{params['dim']}-d embeddings.

## The story

A family photo album in IMM project `{PROJECT}`, dataset `{DATASET}`:
{len(faces):,} faces of {pop.n_identities} people in {len(world.photos.files):,} photos
(`oss://{BUCKET}/...`). Sizes follow a power law ({int(sizes.min())} to {int(sizes.max())}
faces a person). {len(pop.pairs)} pairs of people are look-alike siblings: more alike than
strangers, less than one person's own photos; they share family photos. About 6% of faces are
low quality (small, blurred, turned away: lower `FaceQuality`, noisier embedding).

1. A FaceClustering task ran from {_when(tl.clustering_start)} to {_when(tl.clustering_end)}.
   It split most people into fragments (one cluster per look): {len(clusters)} clusters,
   {impure} of them impure because a sibling's fragment landed in them. It left
   {independent} faces `figure-cluster-id-independent` (low quality, or too few good faces to
   open a group) and {unavailable} faces of photos added after the run
   `figure-cluster-id-unavailable`.
2. The clusters and files were exported at {_when(tl.export_at)} (`faces.parquet`, `imm/`):
   this is the state **before** any merge.
3. From {_when(tl.merges_start)} a reviewer created merge tasks in `{DATASET}`:
   {kind_text}; and {summary['other']} in a second dataset, `{OTHER_DATASET}`, whose clusters
   are not in this album (to test dataset filtering).
4. At {_when(summary['fetched'])} the task records were fetched (GetTask, ListTasks); the
   last merge was still running.

## Files ({total / 1e6:.1f} MB)

| file | records | bytes |
|---|---:|---:|
{rows}

JSON is written with sorted keys (`.json` indented, `.jsonl` one compact value a line).
Timestamps in IMM records are RFC 3339 with 0 to 9 fraction digits and `Z` or `+08:00` (all
occur); one task's times are spelled the same way in every record of it.

### `faces.parquet`

One row per face, in photo order (the order the photos were taken, faces left to right).
Columns: `face_id` (the IMM `FigureId`, a UUID), `cluster_id` (the `FigureClusterId` before the
merges: `Cluster-<uuid4>`, or a reserved id), `file_id` (the File `ObjectId`), `uri`, `dataset`,
`image_width`, `image_height` (the File's `ImageWidth`, `ImageHeight`: the photo's size in pixels,
the frame of the boundary columns), `identity` (**ground truth**, `person-NNN`),
`figure_cluster_confidence` (missing when in no cluster), then the figure attributes in
snake_case, equal to the JSON values: `face_quality`, `figure_confidence`, `sharpness` (0-1),
`boundary_left`, `boundary_top`, `boundary_width`, `boundary_height` (px), `head_pose_pitch`,
`head_pose_roll`, `head_pose_yaw` (degrees), `age`, `gender`, `emotion`, `glasses`, `mask`; last
`embedding`: a list of {params['dim']} float16, the raw model output (norm about 14-29, higher
for better faces, not unit length: readers normalise and keep the norm; their similarity
structure is under "Embeddings" below). The embeddings are stored here only. Parquet metadata
key `toolkit.sample_data` holds the generator's arguments.

### `images/`

Generated portraits, one JPEG per photo holding a face the demo shows as a thumbnail: for every
cluster named by a merge task of `{DATASET}` (destination or source), its
{THUMBNAILS_PER_CLUSTER} best faces (`toolkit.images.pick_thumbnail_faces`), so
{len(images)} of the {len(world.photos.files):,} photos. The path is the photo's object key:
`{IMAGES_DIR}/<key>` for `oss://{BUCKET}/<key>`, so
`toolkit.images.face_thumbnails(faces, "sample_data/{IMAGES_DIR}")` finds them. Each shows a
plain background and, at each face's `Boundary`, a drawn face (every face of the photo; the
table counts them as records): one person's colours and shapes are the same in every photo, a
look-alike sibling's are close to the other's; glasses, masks, smiles, head turns and blur follow
the figure attributes. Stored downscaled (longest side {STORED_SIDE} px, JPEG quality 70) while
`ImageWidth` / `ImageHeight` (and `image_width` / `image_height`) keep the size as recorded, like
a local copy of a cloud album: thumbnails scale the box by file size / recorded size.

### `imm/files.jsonl`

One IMM File object a line (as SimpleQuery lists them in `Files[]`), one per photo, oldest first:
`ObjectId`, `ObjectType` (`file`), `ProjectName`, `DatasetName`, `URI`, `MediaType`,
`ContentType`, `ImageWidth`, `ImageHeight`, `CreateTime`, `UpdateTime`, `FigureCount` and
`Figures[]`, one per face, left to right: `FigureId` (= `face_id`), `FigureType` (`face`),
`FigureConfidence`, `FigureClusterId`, `FigureClusterConfidence` (absent for faces in no
cluster), `Boundary` `{{Left, Top, Width, Height}}`, `FaceQuality`, `Sharpness`, `HeadPose`
`{{Pitch, Roll, Yaw}}`, `Age`, `Gender`, `Emotion`, `Glasses`, `Mask`. A person appears at most once
in a photo; relatives, look-alike siblings too, appear together in many.

### `imm/clusters.jsonl`

One QueryFigureClusters response a line (`WithTotalCount`, sorted by `ObjectId`, 100 clusters a
page): `{{RequestId, FigureClusters[], NextToken, TotalCount}}`; `NextToken` is opaque and empty on
the last page. Each FigureCluster: `ObjectId`, `ObjectType` (`figure-cluster`), `OwnerId`,
`ProjectName`, `DatasetName`, `FaceCount`, `ImageCount`, `VideoCount`, `Gender` (majority),
`AverageAge`, `MinAge`, `MaxAge`, `Cover` (File with `URI` and the figure of the cluster's best
face), `CreateTime`, `UpdateTime` (`+08:00`), `MetaLockVersion`; a few carry `Name` and
`CustomLabels`. Counts agree with `faces.parquet`.

### `tasks/gettask.jsonl`

One GetTask response a task, as fetched at the end: the FaceClustering task (`TaskId`
`FaceClustering-<uuid>`) and every merge task (`TaskType` `FigureClustersMerging`; `TaskId` a bare
UUID or `FigureClustersMerging-<uuid>`). Keys: `RequestId` (of the GetTask call), `ProjectName`,
`EventId`, `TaskId`, `TaskType`, `Status` (`Succeeded`, `Failed`, `Running`), `StartTime`,
`EndTime` (empty while running), `Code` and `Message` (empty unless failed: `ResourceNotFound`,
`InvalidArgument`), `UserData` (JSON text such as `{{"by":"alice","ticket":"FC-118"}}`; one holds
`<script>alert(1)</script>`, one is plain text), `Tags` (absent on some), `Progress` (while
running; `100` on some finished tasks, absent on others) and, on about half,
`TaskRequestDefinition`: JSON text of the request (`ProjectName`, `DatasetName`, `From` or
`Froms`, `To`, `UserData`, `Tags`, `Notification`). In one definition `Froms` is itself JSON text,
as the wire request carries it.

### `tasks/merge_requests.jsonl`

The caller's log of CreateFigureClustersMergingTask calls, one a line, in call order:
`{{"Request": {{ProjectName, DatasetName, From | Froms, To, UserData, Tags}}, "Response":
{{RequestId, TaskId, EventId}}}}` (`Froms` a list, `Tags` an object). It covers every merge whose
GetTask record has no `TaskRequestDefinition` (their only source of `From`/`Froms`/`To`) and
some that have one too (the two agree). Join on `TaskId`.

### `tasks/listtasks_page1.json`, `tasks/listtasks_page2.json`

ListTasks responses over the whole project, sorted by `TaskId`: `{{RequestId, ProjectName,
NextToken, MaxResults, Tasks[]}}`; `MaxResults` is a string, the number of tasks returned;
`NextToken` on page 1 is the last `TaskId` of the page, empty on page 2. TaskInfo entries carry
`TaskId`, `TaskType`, `Status`, `StartTime`, `EndTime`, `Code`, `Message`, `UserData`, `Tags`,
`Progress` as in GetTask, but no `ProjectName`, `EventId`, `RequestId` or definition.

### `tasks/polling.jsonl`

GetTask snapshots of a client polling {summary['polled']} tasks (the FaceClustering task, a
failed merge, some succeeded merges and the running one): `{{"ObservedAt": <RFC 3339>,
"Response": <GetTask body>}}`, `Running` with rising `Progress`, then the final body (the running
task has only `Running` snapshots). Each call has its own `RequestId`.

### `tasks/notifications.jsonl`

The asynchronous messages of every finished task (none for the running one), in delivery order:
`{{id, source, type, subject, time, content}}` with `source` `acs.imm`, `type`
`imm:Task:FigureClustersMerging` (merges) or `imm:Task:FigureClustering` (the FaceClustering
task), `subject` `acs:imm:<region>:<account>:{PROJECT}/<type>`, `time` epoch milliseconds as a
string, `content` JSON text of `{{ProjectName, DatasetName, RequestId, StartTime, EndTime,
UserData, TaskType, TaskId, Status, Code, Message}}` (`RequestId` of the create call). `id`
equals the task's `EventId`. One message was delivered twice (an identical line, a few lines
later): message queues deliver at least once.

### `huawei/`

Huawei VIAS face-capture batch tasks (snake_case keys; ids match `^[a-z0-9-_]{{4,36}}$`):
`batch_tasks.json`, a ListBatchTasks response `{{count, batch_task_list[]}}` (newest first;
`created_at` epoch ms as an integer; `batch_task_status_info` counts tasks per lower-case state,
absent states = 0); {batch_pages}, one ListTasks response per batch `{{batch_id, count, page,
page_size, tasks[]}}` (`batch_id` is the query's filter, the entries do not carry it;
`created_at` epoch ms as a **string**; `state` upper case); `task_detail.json`, ShowTaskInfo of
the task that failed to start (`created_at`/`updated_at` ISO, `error {{code, message}}`, `input`,
`output`, `config`, `schedule`, ...); `update_response.json`, the BatchTaskResDto of modifying
that batch (`{{id, total_count, succeed_count, failed_count, error_list}}`, one task failed).

### `truth/merges.csv`

One row per merge task of `{DATASET}`, in time order: `task_id`, `kind`, `correct`, `status`,
`to_cluster`, `source_clusters` and `source_identities` (`;`-separated), `to_identity` (the
majority identity of each named cluster before the merges; empty for a cluster that does not
exist there). `kind`: `fragment` (clusters of one person), `lookalike` (a look-alike sibling's
cluster into the other's: wrong), `unrelated` (two strangers: wrong), `failed` (a cluster that
does not exist in the dataset, or the destination among `Froms`), `vanished` (repeats an earlier
merge whose source was already merged away; the record says `Succeeded`, a no-op on the
emptied cluster, so only a replay notices), `running` (a fragment merge still running).
`correct` is true when applying the request is right: `fragment` and `running`.

### `truth/identities.csv`

One row per person: `identity`, `n_faces`, `family` (people photographed together),
`lookalike_of` (the look-alike sibling, if any), `gender`, `age`.

## Embeddings

Each person has a centre, each of their looks (the fragments) a centre near it, and each face sits
at a set cosine from its look's centre (lower for low-quality faces). On the `standard` scale
(ArcFace-like) the cosine between faces of two strangers averages about 0, of one person about
0.5-0.8, of look-alike siblings about 0.3-0.45. On the `compressed` scale (dlib-like) every vector
leans 85% towards one common direction, so strangers average about 0.85 and one person about
0.94: thresholds must come from the data, never from a fixed scale.
"""
