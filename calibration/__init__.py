"""INT8 calibration for TensorRT 10: image batchers and the entropy calibrator.

``ImageBatcher`` makes exact batches with the stage's own preprocessing (YOLOX letterbox or
RTMPose crops); ``create_entropy_calibrator`` wraps it in TensorRT's
``IInt8EntropyCalibrator2`` with a cache file. ``dwpose calibrate`` and ``dwpose build --int8``
use them; TensorRT 11 has no calibrator (INT8 comes from Q/DQ nodes in the ONNX model there).
"""
