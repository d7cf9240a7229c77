"""Audnex (api.audnex.us): Audible book records and chapters by ASIN."""

from mamfast.audnex.client import AudnexClient, AudnexNotFoundError, RetryPolicy
from mamfast.audnex.models import Book, Chapters, Found

__all__ = ["AudnexClient", "AudnexNotFoundError", "Book", "Chapters", "Found", "RetryPolicy"]
