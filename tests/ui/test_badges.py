"""State badges take Prefect's colours; tables grow to 20 rows before they scroll."""

from __future__ import annotations

import pandas as pd

from runops.colors import STATE_COLORS
from ui.badges import ROW_PX, badge_css, badges, dense_height


def _rgb(hex_color: str) -> str:
    value = hex_color.lstrip("#")
    return ", ".join(str(int(value[i : i + 2], 16)) for i in (0, 2, 4))


def test_each_state_is_tinted_in_its_prefect_colour() -> None:
    for state in ("Late", "Failed", "Crashed", "Cancelled", "Running", "Completed"):
        assert f"rgba({_rgb(STATE_COLORS[state])}, 0.22)" in badge_css(state)
    assert "rgba(42, 199, 105" in badge_css("done")  # an outcome in the colour of Completed
    assert badge_css("cancel") == "" and badge_css(None) == ""  # an action is not a state


def test_only_state_like_columns_are_styled() -> None:
    frame = pd.DataFrame({"Run": ["Late"], "State": ["Late"], "Outcome": ["failed"]})
    html = badges(frame).to_html()
    assert html.count("background-color") == 2  # State and Outcome, not the run named "Late"


def test_tables_show_up_to_twenty_rows_without_scrolling() -> None:
    assert dense_height(5) == "auto"
    assert dense_height(20) == ROW_PX * 21 + 3
    assert dense_height(500) == dense_height(20)
