"""Serving past one process: a Triton Inference Server model repository, and a real Triton server.

- :mod:`.triton_repo`: :func:`describe_model` reads what Triton must know of an ONNX file (``read_onnx``) or an
  engine (its sidecar) into a :class:`ServedModel`; :func:`write_repository` writes
  ``OUT_DIR/<name>/config.pbtxt``, ``1/model.onnx|model.plan``, the labels file, the op library / plugin copies
  and ``OUT_DIR/README.md`` (``nat-export triton-repo``).
- :mod:`.env`: the serving environment. PyTriton (``nvidia-pytriton``, whose wheel bundles ``tritonserver`` and
  its python backend) needs ``numpy<2``, so it lives in a virtual environment of its own, created once
  (``nat-export serve --setup``) and cached by versions; its python backend stub is pointed at this
  interpreter's ``libpython``.
- :mod:`.serve`: ``nat-export serve``: the checks in this process, then the server (PyTriton + Triton's dynamic
  batcher over ONNX Runtime or a TensorRT engine), in this process when PyTriton imports here, else in the
  serving environment (:mod:`.worker`).

Torch-free.
"""

from __future__ import annotations


class RepositoryError(ValueError):
    """A model that cannot be served as asked (batch above the profile's max, a custom-op graph without its op
    library, an engine without its sidecar, a bad name); the message names the problem and the fix."""


class ServingError(RuntimeError):
    """The serving environment or the server failed (PyTriton cannot be installed or imported, no shared
    libpython, a busy port, Triton did not start); the message names the problem and the fix."""


__all__ = ["RepositoryError", "ServingError"]
