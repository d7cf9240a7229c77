"""mamfast: prepare Libation audiobooks for MyAnonaMouse, crash-safe, in parallel."""

__version__ = "0.1.0"
