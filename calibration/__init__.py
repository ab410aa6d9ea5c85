"""INT8 calibration for TensorRT 10: image batchers and the entropy calibrator.

- ``batcher``     ``ImageBatcher``: exact batches with the stage's own preprocessing (the
                  detector's letterbox and normalisation, or RTMPose crops).
- ``calibrator``  ``create_entropy_calibrator``: TensorRT's ``IInt8EntropyCalibrator2`` over a
                  batcher, with a cache file.
- ``build``       ``build_engine``: the ``dwpose build`` / ``calibrate`` flow, a calibrator
                  handed to ``engines.trt.builder`` (which does not import this package).

TensorRT 11 has no calibrator (INT8 comes from Q/DQ nodes in the ONNX model there).
"""
