"""Load generators and benchmarks (aiortc clients); see bench/README.md."""
