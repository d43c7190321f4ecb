"""The MPI layer: datatypes, buffers, point-to-point engine, communicators, requests."""
