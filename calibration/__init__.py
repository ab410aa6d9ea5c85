"""INT8 calibration: image batchers and calibrators for TensorRT and ONNX Runtime.

Empty until the TensorRT work lands; the package exists so the layout is stable.
"""
