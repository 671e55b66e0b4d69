"""Uploads: a temporary file store behind signed PUT links, and retrieval tasks started from an uploaded CSV."""
