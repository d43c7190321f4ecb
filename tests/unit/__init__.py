"""The unit tier: tests that start no job (`python -m pytest tests/unit`, seconds).

Being a package makes pytest put tests/ on sys.path (so `from helpers import ...` works here)
and import these modules as `unit.test_*`, so a file split from a job module keeps its name.
"""
