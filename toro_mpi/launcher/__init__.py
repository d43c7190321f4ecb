"""toro-mpirun: start one pinned process per rank on this machine and supervise the job."""
