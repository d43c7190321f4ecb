"""Cooperative per-process scheduler of green threads."""

from .scheduler import Scheduler, Task

__all__ = ["Scheduler", "Task"]
