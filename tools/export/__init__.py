"""Turns a CAM++ checkpoint into ONNX (and TensorRT) and writes the Triton model repository."""
