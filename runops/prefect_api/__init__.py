"""Every call runops makes to a Prefect server: the client factory, its errors, and the endpoints."""
