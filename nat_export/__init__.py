"""nat-export: NAT / DiNAT to ONNX and TensorRT."""

__version__ = "0.1.0"
