"""Micro-benchmarks that run unchanged on toro_mpi and on mpi4py + OpenMPI."""
