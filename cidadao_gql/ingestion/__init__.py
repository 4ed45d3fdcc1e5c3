"""PNCP rows and CSV exports read as they are, the importer that loads them, the PNCP API client, the rejects report, and synthetic data."""
