"""The Amazon Data Portability face: apps, data queries per scope, records as signed links."""
