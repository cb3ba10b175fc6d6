"""Benchmarks (programs, not tests) and the locust load profile."""
