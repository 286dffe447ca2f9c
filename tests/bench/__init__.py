"""Tests of the benchmark scripts' own logic (bench/): rounds, medians, order; never timed assertions."""
