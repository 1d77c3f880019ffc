"""polygraphy runners for the backends nat-export compares: PyTorch reference, ONNX Runtime, TensorRT."""
from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import torch
from polygraphy.backend.base import BaseRunner
from polygraphy.common import TensorMetadata


class TorchRunner(BaseRunner):
    """The PyTorch reference model (fp32, CPU unless told otherwise) as a polygraphy runner."""

    def __init__(self, model, output_names: list[str], features: bool, device: str = "cpu", name: str = "pytorch"):
        super().__init__(name=name, prefix="torch-runner")
        self._model, self._names, self._features, self._device = model, output_names, features, device

    def activate_impl(self):
        self._net = self._model.to(self._device).float().eval()

    def get_input_metadata_impl(self):
        return TensorMetadata().add("pixel_values", np.float32, (-1, self._model.config.in_chans, -1, -1))

    def infer_impl(self, feed_dict):
        start = time.perf_counter()
        x = torch.from_numpy(np.asarray(feed_dict["pixel_values"], dtype=np.float32)).to(self._device)
        with torch.no_grad():
            if self._features:
                logits, feats = self._net.forward_with_features(x)
                outs = [logits, *feats]
            else:
                outs = [self._net(x)]
        result = OrderedDict((n, o.float().cpu().numpy()) for n, o in zip(self._names, outs))
        self.inference_time = time.perf_counter() - start
        return result

    def deactivate_impl(self):
        del self._net


class CallableRunner(BaseRunner):
    """Any ``feed -> {name: array}`` callable (an ORT session wrapper, a TensorRT engine)."""

    def __init__(self, fn, name: str):
        super().__init__(name=name, prefix="callable-runner")
        self._fn = fn

    def activate_impl(self):
        pass

    def get_input_metadata_impl(self):
        return TensorMetadata().add("pixel_values", np.float32, (-1, 3, -1, -1))

    def infer_impl(self, feed_dict):
        start = time.perf_counter()
        result = OrderedDict((k, np.asarray(v, dtype=np.float32)) for k, v in self._fn(feed_dict).items())
        self.inference_time = time.perf_counter() - start
        return result

    def deactivate_impl(self):
        pass
