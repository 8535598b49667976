"""Compiled loops of the reclustering (numba): the exact dot products and the rounds
of the average linkage.

Imported lazily (numba's import and the first call's loading of the compiled
code cost a fraction of a second), by :mod:`._dots` and :mod:`._agglomerate`.
Compiled code is cached on disk (``cache=True``), so only the first call after
an install compiles. Every function releases the GIL (``nogil``), so threads
run them side by side.

The dot product. Every exact value of the reclustering -- the neighbour
search's re-ranking, each cluster link, each cluster's squared norm -- is
:func:`dot` of two rows, computed in float64 (a float32 row is converted first,
which is exact) with eight partial sums in a fixed order. It is compiled
without ``fastmath``, so the order is what the code says: the value depends
only on the two rows, ``dot(a, b)`` equals ``dot(b, a)`` bit for bit (products
commute), and a float32 row gives what its float64 copy gives. The eight
independent partial sums let the compiler use vector registers without
reordering anything.

The rounds. :func:`best_pairs` and :func:`merge_round` are the two halves of
one round of ``_agglomerate.average_linkage`` (see the notes of that module for
what the links and their intervals are): the first finds the reciprocal best
candidate pairs, computing exactly only the links a decision turns on, and
applies the cohesion guard; the second merges them and folds the merged
clusters' edges. The edges are four arrays ``u < v``, ``sim``, ``err`` of which
the first ``m`` are live; both functions compact them in place and return the
new ``m``. The links a pass needs are gathered first and computed together,
on all cores when there are many (``prange``): each value is the same
whichever thread computes it.

The screen. :func:`screen_block` is the scan of the neighbour search
(``_knn``): which float32 values of a block pass the rows' (and columns')
thresholds.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

_U64 = float(np.finfo(np.float64).eps) / 2.0

#: Per-cluster arrays the rounds borrow and give back as they found them (only
#: ``size`` holds nothing between calls), so a round costs O(edges), not O(n).
Scratch = namedtuple("Scratch", "low high count best mark rename size")


def new_scratch(n: int) -> Scratch:
    """Scratch arrays for ``n`` clusters, in the state the rounds expect."""
    return Scratch(low=np.full(n, -np.inf), high=np.full(n, -np.inf),
                   count=np.zeros(n, dtype=np.int64), best=np.full(n, n, dtype=np.int64),
                   mark=np.zeros(n, dtype=np.bool_), rename=np.arange(n, dtype=np.int64),
                   size=np.empty(n))


@njit(nogil=True, cache=True)
def dot(a, b):
    """float64 ``a . b`` of two rows, eight partial sums in a fixed order."""
    d = a.shape[0]
    end = d - d % 8
    acc = np.zeros(8)
    for t in range(0, end, 8):
        for j in range(8):
            acc[j] += np.float64(a[t + j]) * np.float64(b[t + j])
    for t in range(end, d):
        acc[0] += np.float64(a[t]) * np.float64(b[t])
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


@njit(nogil=True, cache=True)
def pair_dots_into(left, right, rows, cols, out, start, stop):
    """``out[i] = dot(left[rows[i]], right[cols[i]])`` for ``start <= i < stop``."""
    for i in range(start, stop):
        out[i] = dot(left[rows[i]], right[cols[i]])


@njit(nogil=True, cache=True)
def link(faces, pool, slot, sizes, i, j):
    """Mean cross similarity of clusters ``i`` and ``j``: ``S_i . S_j / (n_i n_j)``.

    A cluster of one face is its embedding row; a larger one has its sum in
    ``pool[slot[c]]``.
    """
    si = slot[i]
    sj = slot[j]
    if si >= 0:
        if sj >= 0:
            d = dot(pool[si], pool[sj])
        else:
            d = dot(pool[si], faces[j])
    elif sj >= 0:
        d = dot(faces[i], pool[sj])
    else:
        d = dot(faces[i], faces[j])
    return d / (sizes[i] * sizes[j])


@njit(nogil=True, cache=True)
def links_exact(faces, pool, slot, sizes, u, v):
    """:func:`link` of each pair ``(u[e], v[e])``."""
    out = np.empty(u.shape[0])
    for e in range(u.shape[0]):
        out[e] = link(faces, pool, slot, sizes, u[e], v[e])
    return out


# Fewer links than this are computed on one thread (a parallel launch costs more).
_PARALLEL_LINKS = 512


@njit(nogil=True, cache=True, parallel=True)
def _links_parallel(faces, pool, slot, sizes, u, v, at, out):
    for i in prange(at.shape[0]):
        out[i] = link(faces, pool, slot, sizes, u[at[i]], v[at[i]])


@njit(nogil=True, cache=True)
def _links_at(faces, pool, slot, sizes, u, v, at):
    """:func:`link` of the edges ``at`` (on all threads when there are many: each
    value is the same whichever thread computes it)."""
    out = np.empty(at.shape[0])
    if at.shape[0] >= _PARALLEL_LINKS:
        _links_parallel(faces, pool, slot, sizes, u, v, at, out)
    else:
        for i in range(at.shape[0]):
            out[i] = link(faces, pool, slot, sizes, u[at[i]], v[at[i]])
    return out


@njit(nogil=True, cache=True)
def _settle(u, v, sim, err, at, threshold, faces, pool, slot, sizes, drop):
    """Compute the links of edges ``at`` exactly; mark those below the threshold in
    ``drop`` (and say whether any was)."""
    exact = _links_at(faces, pool, slot, sizes, u, v, at)
    dropped = False
    for i in range(at.shape[0]):
        e = at[i]
        sim[e] = exact[i]
        err[e] = 0.0
        if exact[i] < threshold:
            drop[e] = True
            dropped = True
    return dropped


@njit(nogil=True, cache=True)
def _compact(u, v, sim, err, m, drop):
    j = 0
    for e in range(m):
        if not drop[e]:
            u[j] = u[e]
            v[j] = v[e]
            sim[j] = sim[e]
            err[j] = err[e]
            j += 1
    return j


@njit(nogil=True, cache=True)
def best_pairs(u, v, sim, err, m, threshold, faces, pool, slot, sizes, sq, guard, ratio, floor,
               scratch):
    """The reciprocal best pairs among the first ``m`` edges, on exact links.

    A cluster's top edges are those whose interval reaches the highest lower
    end among its edges. One alone is its best, whatever its exact value;
    several are computed until one stands out -- but only at a cluster with an
    edge at the top of both its ends (elsewhere the best cannot be
    reciprocated, whichever it is). An edge at both tops is computed when it
    may lie below the threshold. Computed links below the threshold are
    dropped, and the tops looked at again.

    With ``guard``, a pair of two clusters of two faces or more is refused
    unless ``s - floor >= ratio * sqrt((coh_a - floor)+ (coh_b - floor)+)``
    (``coh`` a cluster's mean similarity between its own faces, from ``sq``):
    its edge goes.

    Returns ``(m, a, b, s, ra, rb, n_exact)``: the live edges left, the pairs
    ``a < b`` to merge, sorted by ``a``, with their exact links ``s``, the
    refused pairs, and the links computed. ``scratch``: see
    :func:`new_scratch`; left as it came.
    """
    n = sizes.shape[0]
    n_exact = 0
    lo_top, best_sim, n_top, best, live = (scratch.low, scratch.high, scratch.count,
                                           scratch.best, scratch.mark)
    flags = np.empty(m, dtype=np.uint8)
    drop = np.empty(m, dtype=np.bool_)
    todo = np.empty(m, dtype=np.int64)
    all_top = False
    while True:
        inexact = False
        for e in range(m):
            lo = sim[e] - err[e]
            inexact |= err[e] > 0.0
            if lo > lo_top[u[e]]:
                lo_top[u[e]] = lo
            if lo > lo_top[v[e]]:
                lo_top[v[e]] = lo
        if not inexact:
            for e in range(m):
                lo_top[u[e]] = -np.inf
                lo_top[v[e]] = -np.inf
            all_top = True
            break
        for e in range(m):
            hi = sim[e] + err[e]
            f = 0
            if hi >= lo_top[u[e]]:
                f |= 1
                n_top[u[e]] += 1
            if hi >= lo_top[v[e]]:
                f |= 2
                n_top[v[e]] += 1
            if f == 3:
                live[u[e]] = True
                live[v[e]] = True
            flags[e] = f
        n_todo = 0
        for e in range(m):
            a = u[e]
            b = v[e]
            lo_top[a] = -np.inf
            lo_top[b] = -np.inf
            drop[e] = False
            if err[e] > 0.0:
                f = flags[e]
                if (((f & 1) != 0 and live[a] and n_top[a] > 1)
                        or ((f & 2) != 0 and live[b] and n_top[b] > 1)
                        or (f == 3 and sim[e] - err[e] < threshold)):
                    todo[n_todo] = e
                    n_todo += 1
        n_exact += n_todo
        if not _settle(u, v, sim, err, todo[:n_todo], threshold, faces, pool, slot, sizes,
                       drop):
            # Settling only narrows intervals, so the tops only shrink: the edges
            # flagged hold every top, and none has a rival left undecided.
            break
        # An edge dropped below the threshold may lower a cluster's top: look again.
        for e in range(m):
            n_top[u[e]] = 0
            n_top[v[e]] = 0
            live[u[e]] = False
            live[v[e]] = False
        m = _compact(u, v, sim, err, m, drop)
    # Each cluster's best among the top edges: the highest link, then the smaller
    # name (and the counts of the tops go back to zero).
    for e in range(m):
        a = u[e]
        b = v[e]
        if not all_top:
            n_top[a] = 0
            n_top[b] = 0
            live[a] = False
            live[b] = False
            if not flags[e]:
                continue
        x = sim[e]
        if x > best_sim[a] or (x == best_sim[a] and b < best[a]):
            best_sim[a] = x
            best[a] = b
        if x > best_sim[b] or (x == best_sim[b] and a < best[b]):
            best_sim[b] = x
            best[b] = a
    at = np.empty(min(m, n), dtype=np.int64)
    count = 0
    for e in range(m):
        if (all_top or flags[e]) and best[u[e]] == v[e] and best[v[e]] == u[e]:
            at[count] = e
            count += 1
    for e in range(m):
        best_sim[u[e]] = -np.inf
        best_sim[v[e]] = -np.inf
        best[u[e]] = n
        best[v[e]] = n
    # By ``a`` (each cluster is in one pair at most, so the order is total).
    at = at[:count][np.argsort(u[at[:count]])]
    a = u[at]
    b = v[at]
    s = np.empty(count)
    refuse = np.zeros(count, dtype=np.bool_)
    n_refused = 0
    for i in range(count):
        e = at[i]
        if err[e] > 0.0:
            # The merge height, exact; still the clusters' best and above the threshold.
            sim[e] = link(faces, pool, slot, sizes, a[i], b[i])
            err[e] = 0.0
            n_exact += 1
        s[i] = sim[e]
        na = sizes[a[i]]
        nb = sizes[b[i]]
        if guard and na > 1.0 and nb > 1.0:
            coh_a = (sq[a[i]] - na) / (na * (na - 1.0))
            coh_b = (sq[b[i]] - nb) / (nb * (nb - 1.0))
            ref = np.sqrt(max(coh_a - floor, 0.0) * max(coh_b - floor, 0.0))
            if not s[i] - floor >= ratio * ref:
                refuse[i] = True
                n_refused += 1
    if not n_refused:
        return m, a, b, s, a[:0], b[:0], n_exact
    for e in range(m):
        drop[e] = False
    for i in range(count):
        drop[at[i]] = refuse[i]
    m = _compact(u, v, sim, err, m, drop)
    keep = ~refuse
    return m, a[keep], b[keep], s[keep], a[refuse], b[refuse], n_exact


@njit(nogil=True, cache=True)
def merge_round(u, v, sim, err, m, a, b, threshold, faces, pool, slot, free, counters, sizes,
                sq, parent, rho, norm_factor, rho_slack, eps, scratch):
    """Merge cluster ``b[i]`` into ``a[i]`` for every pair, and fold the edges.

    1. Edges of the merging clusters whose interval holds the threshold are
       computed, so the unions inherit exactly the edges at or above it.
    2. ``S_a += S_b`` (``pool``: a sum per cluster of two faces or more;
       ``free[:counters[0]]`` are reusable rows, ``counters[1]`` rows are in
       use), ``sq[a] = S_a . S_a``, sizes and parents.
    3. A merged cluster's edges are renamed and folded into one per
       neighbour, with the size-weighted mean of the parts' links and an
       interval covering the parts' intervals, the rounding, and the part
       pairs without an edge (``|L(X, Y)| <= rho_X rho_Y``); edges surely
       below the threshold are dropped.

    Returns ``(m, n_exact)``. ``scratch``: see :func:`new_scratch`; left as it came.
    """
    n = sizes.shape[0]
    n_exact = 0
    k = a.shape[0]
    merging, rename, old_size = scratch.mark, scratch.rename, scratch.size
    for i in range(k):
        merging[a[i]] = True
        merging[b[i]] = True
    drop = np.zeros(m, dtype=np.bool_)
    todo = np.empty(m, dtype=np.int64)
    n_todo = 0
    for e in range(m):
        if ((merging[u[e]] or merging[v[e]]) and err[e] > 0.0
                and sim[e] - err[e] < threshold):
            todo[n_todo] = e
            n_todo += 1
    n_exact += n_todo
    dropped = _settle(u, v, sim, err, todo[:n_todo], threshold, faces, pool, slot, sizes, drop)
    for i in range(k):
        merging[a[i]] = False
        merging[b[i]] = False
    if dropped:
        m = _compact(u, v, sim, err, m, drop)

    # The sums. A part pair's weight in the union's link is n_X n_Y with the
    # sizes from before the merge (``old_size``, for every cluster met below).
    grown = merging
    for e in range(m):
        old_size[u[e]] = sizes[u[e]]
        old_size[v[e]] = sizes[v[e]]
    d = pool.shape[1]
    for i in range(k):
        ai = a[i]
        bi = b[i]
        sa = slot[ai]
        sb = slot[bi]
        if sa < 0 and sb >= 0:
            # b's row becomes a's: S_b + x_a, the same bits as x_a + S_b.
            for t in range(d):
                pool[sb, t] += np.float64(faces[ai, t])
            slot[ai] = sb
            slot[bi] = -1
        else:
            if sa < 0:
                if counters[0] > 0:
                    counters[0] -= 1
                    sa = free[counters[0]]
                else:
                    sa = counters[1]
                    counters[1] += 1
                for t in range(d):
                    pool[sa, t] = np.float64(faces[ai, t])
                slot[ai] = sa
            if sb >= 0:
                for t in range(d):
                    pool[sa, t] += pool[sb, t]
                free[counters[0]] = sb
                counters[0] += 1
                slot[bi] = -1
            else:
                for t in range(d):
                    pool[sa, t] += np.float64(faces[bi, t])
        sq[ai] = dot(pool[slot[ai]], pool[slot[ai]])
        sizes[ai] += sizes[bi]
        parent[bi] = ai
        rename[bi] = ai
        grown[ai] = True

    # The edges of merged clusters, renamed, with the parts' weights; the others
    # stay. Each is filed under its "owner", a merged cluster at one of its ends
    # (the lower name when both merged), by the owner's place in ``a``.
    place = scratch.count
    for i in range(k):
        place[a[i]] = i + 1
    own = np.empty(m, dtype=np.int64)
    other = np.empty(m, dtype=np.int64)
    weight = np.empty(m)
    w_sim = np.empty(m)
    w_err = np.empty(m)
    j = 0
    stay = 0
    for e in range(m):
        ru = rename[u[e]]
        rv = rename[v[e]]
        if grown[ru] or grown[rv]:
            if ru == rv:
                continue  # the merging pair's own edge folds onto itself: it goes
            lo = min(ru, rv)
            hi = max(ru, rv)
            if grown[lo]:
                own[j] = place[lo] - 1
                other[j] = hi
            else:
                own[j] = place[hi] - 1
                other[j] = lo
            w = old_size[u[e]] * old_size[v[e]]
            weight[j] = w
            w_sim[j] = w * sim[e]
            w_err[j] = w * err[e]
            j += 1
        else:
            u[stay] = u[e]
            v[stay] = v[e]
            sim[stay] = sim[e]
            err[stay] = err[e]
            stay += 1
    # By owner, in edge order within each (a counting sort).
    start = np.zeros(k + 1, dtype=np.int64)
    for t in range(j):
        start[own[t] + 1] += 1
    for i in range(k):
        start[i + 1] += start[i]
    order = np.empty(j, dtype=np.int64)
    fill = start[:k].copy()
    for t in range(j):
        order[fill[own[t]]] = t
        fill[own[t]] += 1
    # A missing part pair: any link up to the longest parts' means allow.
    for i in range(k):
        rho[a[i]] = max(rho[a[i]], rho[b[i]])
    # Fold each owner's edges into one per neighbour: the weighted mean of the
    # parts' links and its interval.
    where = scratch.best
    n_slots = np.empty(1, dtype=np.int64)
    acc_other = np.empty(j, dtype=np.int64)
    acc_w = np.empty(j)
    acc_sim = np.empty(j)
    acc_err = np.empty(j)
    m = stay
    for i in range(k):
        g = a[i]
        n_slots[0] = 0
        for p in range(start[i], start[i + 1]):
            t = order[p]
            o = other[t]
            q = where[o]
            if q == n:
                q = n_slots[0]
                n_slots[0] += 1
                where[o] = q
                acc_other[q] = o
                acc_w[q] = 0.0
                acc_sim[q] = 0.0
                acc_err[q] = 0.0
            acc_w[q] += weight[t]
            acc_sim[q] += w_sim[t]
            acc_err[q] += w_err[t]
        for q in range(n_slots[0]):
            o = acc_other[q]
            where[o] = n
            lo = min(g, o)
            hi = max(g, o)
            total = sizes[lo] * sizes[hi]
            missing = max(total - acc_w[q], 0.0)
            spread = acc_err[q] + missing * (rho[lo] * rho[hi])
            value = acc_sim[q] / total
            bound = spread / total * (1.0 + 16.0 * _U64) + 3.0 * eps
            if value + bound >= threshold:
                u[m] = lo
                v[m] = hi
                sim[m] = value
                err[m] = bound
                m += 1
        place[g] = 0
    for i in range(k):
        rho[a[i]] = np.sqrt(sq[a[i]]) / sizes[a[i]] * norm_factor + rho_slack
        grown[a[i]] = False
        rename[b[i]] = b[i]
    return m, n_exact


@njit(nogil=True, cache=True)
def screen_block(sims, rows_t, cols_t, both):
    """The entries of a block of float32 screen values that pass the screen.

    ``sims[a, b] >= rows_t[a]``: returned as positions ``(ra, ca)`` and values,
    by row then column. With ``both``, also ``sims[a, b] >= cols_t[b]`` (the
    block read down its columns): ``(rb, cb)`` and values, by column then row.
    Two passes: one counts (so the outputs are allocated once), one fills; the
    thresholds are copied first, as other threads may raise them meanwhile.
    """
    ni, nj = sims.shape
    rows_t = rows_t.copy()
    cols_t = cols_t.copy()
    row_hits = np.zeros(ni, dtype=np.int64)
    any_hits = np.zeros(ni, dtype=np.int64)
    col_hits = np.zeros(nj, dtype=np.int64)
    for a in range(ni):
        t = rows_t[a]
        c = 0
        if both:
            d = 0
            for b in range(nj):
                x = sims[a, b]
                c += x >= t
                h = x >= cols_t[b]
                col_hits[b] += h
                d += h
            any_hits[a] = c + d
        else:
            for b in range(nj):
                c += sims[a, b] >= t
            any_hits[a] = c
        row_hits[a] = c
    n_row = row_hits.sum()
    ra = np.empty(n_row, dtype=np.int64)
    ca = np.empty(n_row, dtype=np.int64)
    va = np.empty(n_row, dtype=np.float32)
    n_col = col_hits.sum()
    rb = np.empty(n_col, dtype=np.int64)
    cb = np.empty(n_col, dtype=np.int64)
    vb = np.empty(n_col, dtype=np.float32)
    # Where each column's hits go next in the column-ordered output.
    at = np.zeros(nj, dtype=np.int64)
    for b in range(1, nj):
        at[b] = at[b - 1] + col_hits[b - 1]
    j = 0
    for a in range(ni):
        if not any_hits[a]:
            continue
        t = rows_t[a]
        for b in range(nj):
            x = sims[a, b]
            if x >= t:
                ra[j] = a
                ca[j] = b
                va[j] = x
                j += 1
            if both and x >= cols_t[b]:
                p = at[b]
                rb[p] = b
                cb[p] = a
                vb[p] = x
                at[b] = p + 1
    return ra, ca, va, rb, cb, vb
