"""Which way the person's picture should move, and the words for the person's own side.

Checks work in camera-image coordinates. A :class:`Direction` is an arrow on the *displayed*
image: the way the person's picture should move (``FORWARD`` / ``BACK``: towards / away from the
camera; ``UP`` / ``DOWN`` come with "tilt the camera" texts, as a standing person cannot move up
or down). The text names the person's own side ("move to your left"), which is the same whatever
the display: the camera faces the person, so their own left is the camera image's right. With a
mirrored (selfie) display the arrows LEFT/RIGHT swap and then agree with the text, like a mirror.
"""
from __future__ import annotations

from enum import Enum


class Direction(str, Enum):
    """Arrow on the displayed image: where the person's picture should move."""

    LEFT = "left"
    RIGHT = "right"
    UP = "up"
    DOWN = "down"
    FORWARD = "forward"  # towards the camera
    BACK = "back"  # away from the camera
    NONE = "none"

    def mirrored(self) -> Direction:
        """The same movement seen in a horizontally flipped display."""
        swap = {Direction.LEFT: Direction.RIGHT, Direction.RIGHT: Direction.LEFT}
        return swap.get(self, self)


def own_side(raw: Direction) -> str:
    """The person's own side for a camera-image direction (the camera faces them)."""
    return "your left" if raw is Direction.RIGHT else "your right"
