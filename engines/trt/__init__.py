"""TensorRT support: environment checks, engine building and the engine file header.

Nothing here imports ``tensorrt`` or a CUDA binding at import time: ``runtime.import_tensorrt``
checks for a CUDA GPU first (creating TensorRT objects without one can abort the process)
and turns a missing package into one clear line.
"""
