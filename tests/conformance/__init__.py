"""Conformance tooling: mpi4py's own test suite run under toro_mpi and under the reference
(`python -m tests.conformance.mpi4py_suite`, see that module)."""
