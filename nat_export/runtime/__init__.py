"""Runtimes: ONNX Runtime sessions, TensorRT engine build and execution, benchmarking."""
