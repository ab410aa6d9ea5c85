"""Errors that the command line turns into one clear line and exit code 2."""
from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave us (a file, a path, an option): no traceback."""


class ModelError(UserError):
    """A model file is missing, is not what its format claims, or does not fit the stage."""


class InputError(UserError):
    """An input image, folder, video or camera cannot be used."""
