"""A tiny flow for the worker test: fails while its marker file exists, else writes its parameters."""

import json
from pathlib import Path

from prefect import flow


@flow(name="tiny-retry")
def tiny(out: str, marker: str, value: int = 0) -> int:
    if Path(marker).exists():
        raise RuntimeError("dependency down (marker file present)")
    Path(out).write_text(json.dumps({"value": value}))
    return value
