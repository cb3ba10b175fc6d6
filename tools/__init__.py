"""Operator tools: model export and benchmarks."""
