"""Model-side code shared by the export tool, the Triton python models and the benchmarks."""
