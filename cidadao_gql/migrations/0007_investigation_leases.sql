-- The lease of a running investigation: its worker renews heartbeat_at while it runs, and
-- another may take it over only once the lease has lapsed (the worker died). PostgreSQL,
-- not the queue, decides who runs what: a job delivered twice still runs once at a time.
ALTER TABLE investigations ADD COLUMN heartbeat_at timestamptz;
