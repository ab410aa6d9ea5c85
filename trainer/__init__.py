"""PyTorch RTMPose/DWPose: models with mmpose-compatible state dicts, checkpoints, ONNX export.

Training and the two distillation stages build on these modules.
"""
