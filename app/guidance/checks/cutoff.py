"""Parts cut off at an edge or hidden: what ``in_frame`` and ``hands`` share."""
from __future__ import annotations

import numpy as np

from ..direction import Direction, own_side
from ..keypoints import (
    EDGES,
    FRONT_OF_HEAD,
    GROUP_EDGES,
    GROUP_LABELS,
    GROUPS,
    edge_distances,
)
from ..person import Person
from ..results import CheckResult, fail
from .base import Context


def find_cut(p: Person, groups: list[str], min_visible: float, name: str, ctx: Context,
             ) -> tuple[dict[str, list[str]], list[str]]:
    """Which of ``groups`` are cut off at which edge, and which are hidden in the frame.

    A group is cut at an edge when one of its visible points touches that edge, or when
    too few of its points are visible and missing points are beyond an edge the group
    can leave by. Each missing point is assigned the nearest such edge and is beyond it
    when reported near or past it, or, for a group the anatomy lets leave by one edge only
    (head: top, legs: bottom), when the person's box reaches that edge
    (:func:`~app.guidance.box_touches_edges`, supporting evidence where a pose model reports
    invisible points anywhere in its crop). A missing group with no point beyond an edge is
    hidden (occluded, or turned away), unless the torso faces away where the profile needs
    facing: the body hides it then, and ``facing`` asks to turn around. The head is judged
    by :func:`_judged_by`. ``name`` is the check whose hysteresis applies.
    """
    cfg = ctx.config
    touch = cfg.edge_margin + ctx.margin(name, cfg.edge_exit_margin)
    cut: dict[str, list[str]] = {}
    hidden: list[str] = []
    away = p.orientation.away and ctx.profile.need_facing
    for g in groups:
        idx, shown = _judged_by(p, g, away)
        seen = p.vis[idx]
        beyond = set()
        dist = edge_distances(p.kp[idx[seen]], p.w, p.h)
        for edge in EDGES:
            if (dist[edge] <= touch).any():
                beyond.add(edge)
        if shown < min_visible:
            edges = GROUP_EDGES[g]
            gone = edge_distances(p.kp[idx[~seen]], p.w, p.h)
            near = np.stack([gone[e] for e in edges])  # [edges, missing points]
            for e, d in zip(np.asarray(edges)[near.argmin(0)], near.min(0)):
                if d <= cfg.edge_evidence or (len(edges) == 1 and e in p.box_edges):
                    beyond.add(str(e))
            if not beyond and not away:
                hidden.append(g)
        for edge in beyond:
            cut.setdefault(edge, []).append(g)
    return cut, hidden


def _judged_by(p: Person, group: str, away: bool) -> tuple[np.ndarray, float]:
    """The points ``group`` is judged by and the fraction of it that shows.

    A head shows as much as the more visible of its body points and its face (a turned head
    hides an eye and an ear, not its face); a head whose torso faces ``away`` only by its
    ears, all the back of a head shows.
    """
    if group != "head":
        idx = GROUPS[group]
        return idx, float(p.vis[idx].mean())
    if away:
        idx = np.setdiff1d(GROUPS["head"], FRONT_OF_HEAD)
        return idx, float(p.vis[idx].mean())
    shown = max(float(p.vis[GROUPS["head"]].mean()), p.orientation.face_visible)
    return np.r_[GROUPS["head"], GROUPS["face"]], shown


def cut_or_hidden(name: str, cut: dict[str, list[str]], hidden: list[str],
                  ) -> CheckResult | None:
    """The failure of check ``name`` for cut-off or hidden groups (None when there are none).

    Parts cut at one side only ask to move that way; any other cut asks to step back.
    """
    if cut:
        groups = list(dict.fromkeys(g for edge in EDGES for g in cut.get(edge, [])))
        what = _join(groups)
        sides = set(cut) & {"left", "right"}
        message = f"{what} out of frame ({', '.join(e for e in EDGES if e in cut)})"
        if set(cut) == sides and len(sides) == 1:
            raw = Direction.RIGHT if "left" in sides else Direction.LEFT
            return fail(name, message, f"Move to {own_side(raw)}, {what} out of frame", raw)
        return fail(name, message, f"Step back, {what} out of frame", Direction.BACK)
    if hidden:
        what = _join(hidden)
        return fail(name, f"{what} hidden", f"Make sure {what} visible", Direction.NONE)
    return None


def _join(groups: list[str]) -> str:
    """'your legs and feet are' from group names."""
    labels = [GROUP_LABELS[g][0] for g in groups]
    plural = len(groups) > 1 or GROUP_LABELS[groups[0]][1]
    text = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return f"your {text} {'are' if plural else 'is'}"
