"""Triton python-backend models. Thin: parse the model config, call engine.features / engine.embedder.

These modules import `triton_python_backend_utils`, which only exists inside Triton's python stub; the model
repository's `1/model.py` files re-export the classes below.
"""
