"""Storewatch: real-time detection of abusive stores on an e-commerce marketplace."""

__version__ = "0.1.0"
