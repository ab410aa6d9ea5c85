"""Inference core shared by the CLI, the GUI, calibration and the trainer: the ground layer,
which imports none of them.

Where things live:

- ``skeleton``    the 133-keypoint COCO-WholeBody definition (names, parts, links, colours,
                  flip pairs, OKS sigmas): the one place every other module reads it from.
- ``codec``       the SimCC codec (label encoding for training, decoding for inference).
- ``transforms``  box <-> (center, scale), affine crop matrices, YOLOX letterbox.
- ``backends``    one ``Backend`` interface, one class per runtime (ONNX Runtime, OpenVINO,
                  TensorRT, torch), each with an asynchronous ``submit``; ``backends.auto``
                  picks the runtime and precision for this machine (``--backend auto``);
                  ``backends.onnx_graph`` runs an ONNX graph as a torch module.
- ``device``      the CUDA driver and its GPUs, found on every system without crashing;
                  ``cpu`` the CPU's name and features on every system.
- ``models``      every released signature each stage accepts, and the one-line check.
- ``hub``         the released models, the cache and ``dwpose fetch``; ``download`` the
                  verified, resumable transfer.
- ``detectors``   the ``Detector`` interface: raw YOLOX, mmdeploy end2end (pre / infer / post).
- ``pose``        RTMPose / DWPose / RTMW top-down estimator (pre / infer / post).
- ``tracking``    boxes from previous keypoints between detector runs, IoU identities.
- ``pipeline``    detector + pose + tracking for one frame, with per-stage timings.
- ``overlap``     the two-stream pipeline: detector of frame t while pose of frame t-1 runs.
- ``draw``        mmpose-style skeleton overlay; ``openpose`` the ControlNet pose map and JSON.
- ``sources``     frames from an image, a folder, a video or a camera (``camera``: the
                  backend each system opens cameras with).
- ``smoothing``   one-euro filter for calm keypoints in live video.
- ``results``     COCO keypoint results, streamed to disk; ``files`` every write, atomic,
                  durable and checked, with each system's rules; ``paths`` the cache folder,
                  "same file" and folder listings per system.
- ``doctor``      what this machine can run and why (``dwpose doctor``).
- ``quantize``    ONNX Runtime INT8 static quantization calibrated on real frames (CPU).
- ``trt``         TensorRT engine builder, engine metadata, the CUDA binding (pycuda or
                  cuda-python) (the GPU path).
"""
