"""The desktop app (``python run_app.py``): live camera view, skeleton, framing guidance, capture.

One concern per file. ``main`` imports PyQt5 only after parsing the options, so ``--help``
works without it and a missing PyQt5 is one line saying what to install; ``sources`` and
``render`` need no Qt at all.

- ``main``: the command line of ``run_app.py`` and the headless ``--frames``/``--screenshot`` run.
- ``window``: the main window, which wires sources, workers, panel, view and captures together.
- ``workers``: the capture thread and the inference thread, joined by size-1 "latest" slots.
- ``sources``: what the capture thread reads: cameras, looping videos, image folders, pacing.
- ``models``: which backends can run here, model names and paths.
- ``dialogs``: the missing-model dialog (download with progress, or where to put the file).
- ``panel``: the side panel of settings controls.
- ``view``: the video widget; ``render`` draws skeletons and boxes on the frame (OpenCV),
  ``overlay`` paints instruction, arrows, check list and messages on top (QPainter),
  ``stats`` computes the FPS and latency it shows.
- ``capture``: writes one capture folder atomically, on a background thread.
- ``settings``: the persisted settings (QSettings).
"""
