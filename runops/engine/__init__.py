"""The job engine: selection, frozen plans, the apply loop, concurrency, durable execution and resume."""
