"""Audnex (api.audnex.us): Audible book records and chapters by ASIN."""

from mamfast.clients.audnex.client import AudnexClient, AudnexNotFoundError, RetryPolicy
from mamfast.clients.audnex.models import Book, Chapters, Found

__all__ = ["AudnexClient", "AudnexNotFoundError", "Book", "Chapters", "Found", "RetryPolicy"]
