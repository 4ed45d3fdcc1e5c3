"""Running an operation: the executable schema, limits, cost, error codes, and the compiled planner and executor."""
