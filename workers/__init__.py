"""arq worker settings, job functions and the in-process worker runner."""
