"""The framing checks, one module per check (``cutoff`` holds what ``in_frame`` and ``hands``
share, ``base`` the :class:`~.base.Context` every check is given)."""
