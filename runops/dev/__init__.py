"""Development and demo tooling: the embedded Prefect server, the launcher, demo data and backdating."""
