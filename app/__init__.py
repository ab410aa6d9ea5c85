"""The application, the top layer: it composes the inference core (``engines``), the trainer
(``trainer``) and INT8 calibration (``calibration``), which never import it.

- ``cli``       the ``dwpose`` command: one module per subcommand (predict, bench, fetch,
                build, calibrate, quantize, train, distill, transfer, export, eval, prepare).
- ``gui``       the PyQt5 desktop app (``python run_app.py``): live view, skeleton, FPS and
                latency overlay, framing guidance, capture.
- ``guidance``  the framing checks ("step back", "show both hands") and the guide that orders
                them, pure logic shared by the app and its tests.
"""
