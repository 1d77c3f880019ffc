"""Running models: :func:`~nat_export.runtime.runners.open_model` (ONNX Runtime, TensorRT, PyTorch runners),
image preprocessing and top-k (:mod:`.preprocess`), and the benchmark loop (:mod:`.bench`).

The backends themselves live in :mod:`nat_export.ort` (ONNX Runtime) and :mod:`nat_export.tensorrt`.
"""
