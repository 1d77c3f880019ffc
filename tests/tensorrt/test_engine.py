"""TrtEngine's host-side logic without TensorRT: feed checks, splitting big batches into the profile's
max, zero-padding small ones up to its min (the device part is replaced by a stand-in)."""

from __future__ import annotations

import numpy as np
import pytest

from nat_export.tensorrt import TrtEngine


def engine_stub(lo=2, hi=4):
    eng = object.__new__(TrtEngine)
    eng.input_names, eng.output_names = ["pixel_values"], ["logits"]
    eng.profile = {"pixel_values": ((lo, 3, 8, 8), (hi, 3, 8, 8), (hi, 3, 8, 8))}
    eng.min_batch, eng.opt_batch, eng.max_batch = lo, hi, hi
    eng.calls = []

    def run_host(chunk):
        x = chunk["pixel_values"]
        eng.calls.append(x.shape[0])
        assert lo <= x.shape[0] <= hi
        return {"logits": x.reshape(x.shape[0], -1).sum(1, keepdims=True)}

    eng._run_host = run_host
    return eng


@pytest.mark.parametrize("batch, calls", [(1, [2]), (2, [2]), (4, [4]), (5, [4, 2]), (9, [4, 4, 2])])
def test_chunks_and_padding(batch, calls):
    eng = engine_stub()
    x = np.random.default_rng(0).standard_normal((batch, 3, 8, 8)).astype(np.float32)
    out = eng({"pixel_values": x})["logits"]
    assert eng.calls == calls
    np.testing.assert_allclose(out[:, 0], x.reshape(batch, -1).sum(1), rtol=1e-5)


def test_feed_checks():
    eng = engine_stub()
    with pytest.raises(ValueError, match="missing \\['pixel_values'\\], unexpected \\['x'\\]"):
        eng({"x": np.zeros((1, 3, 8, 8), np.float32)})
    with pytest.raises(ValueError, match="needs 4 dims"):
        eng({"pixel_values": np.zeros((1, 3, 8), np.float32)})
    with pytest.raises(ValueError, match="profile allows"):
        eng({"pixel_values": np.zeros((1, 3, 16, 8), np.float32)})
    assert eng.input_shape(7) == (7, 3, 8, 8) and eng.input_shape(which="min") == (2, 3, 8, 8)
