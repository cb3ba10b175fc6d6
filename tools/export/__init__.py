"""Turns speaker-model weights (CAM++, GE2E) into checked ONNX (and TensorRT) and writes the Triton model repository."""
