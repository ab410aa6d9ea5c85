"""Inference core shared by the CLI, the GUI, the TensorRT path and the trainer.

Where things live:

- ``skeleton``    the 133-keypoint COCO-WholeBody definition (names, parts, links, colours,
                  flip pairs, OKS sigmas): the one place every other module reads it from.
- ``codec``       the SimCC codec (label encoding for training, decoding for inference).
- ``transforms``  box <-> (center, scale), affine crop matrices, YOLOX letterbox.
- ``backends``    one ``Backend`` interface, one class per runtime (ONNX Runtime, OpenVINO,
                  TensorRT, torch), each with an asynchronous ``submit``; ``backends.auto``
                  picks the runtime and precision for this machine (``--backend auto``).
- ``device``      CUDA device detection that never crashes.
- ``models``      what each stage expects of a model file, and the check that says so clearly.
- ``hub``         the released models and ``dwpose fetch``'s downloader.
- ``detector``    YOLOX person detector (pre / infer / post).
- ``pose``        RTMPose / DWPose top-down estimator (pre / infer / post).
- ``tracking``    boxes from previous keypoints between detector runs, IoU identities.
- ``pipeline``    detector + pose + tracking for one frame, with per-stage timings.
- ``overlap``     the two-stream pipeline: detector of frame t while pose of frame t-1 runs.
- ``draw``        mmpose-style skeleton overlay; ``openpose`` the ControlNet pose map and JSON.
- ``sources``     frames from an image, a folder, a video or a camera.
- ``smoothing``   one-euro filter for calm keypoints in live video.
- ``results``     COCO keypoint results, streamed to disk.
- ``quantize``    ONNX Runtime INT8 static quantization calibrated on real frames (CPU).
- ``trt``         TensorRT engine builder and engine metadata (the GPU path).
"""
