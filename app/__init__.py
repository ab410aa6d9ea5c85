"""The application: the ``dwpose`` command line (``app.cli``) and, later, the desktop GUI."""
