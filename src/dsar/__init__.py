"""dsar: answers personal-data access and deletion requests across a company's data sources."""

__version__ = "0.1.0"
