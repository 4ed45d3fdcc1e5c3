"""What a process opens: every resource in one place, and the embedded PostgreSQL of a fresh machine."""
