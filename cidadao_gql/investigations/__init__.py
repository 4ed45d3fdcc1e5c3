"""Investigations: analyses a user starts over a target, run by the agent pool from a
job queue (Redis Streams, or in process), persisted in PostgreSQL."""
