"""The dashboard's look on every page: tighter top margin, metrics that wrap, a sidebar that gets out of
the way on narrow windows."""

from __future__ import annotations

import streamlit as st

NARROW_PX = 1024  # below this the sidebar starts collapsed (Streamlit itself only does so below 768)

_CSS = """
<style>
/* the title sits near the top, as in Prefect's UI, not under a tall empty band */
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 3rem; }
/* long metric labels and values wrap instead of ending in an ellipsis */
[data-testid="stMetricLabel"] p, [data-testid="stMetricLabel"] div { white-space: normal; overflow: visible; }
[data-testid="stMetricValue"] div { white-space: normal; overflow: visible; text-overflow: clip; }
@media (max-width: 1024px) {
  [data-testid="stMetricValue"] { font-size: 1.6rem; }
}
</style>
"""

# Collapse the sidebar on a narrow window (on load and when the window is narrowed), unless the user
# opened or closed it themselves: Streamlit keeps that choice in localStorage, and it wins.
_SCRIPT = f"""
<script>
(() => {{
  if (window.__runopsNarrow) return;
  window.__runopsNarrow = true;
  const prefix = "stSidebarCollapsed-";
  const stored = () => Object.keys(window.localStorage).filter((k) => k.startsWith(prefix));
  const fit = () => {{
    if (window.innerWidth > {NARROW_PX} || stored().length) return true;
    const sidebar = document.querySelector('[data-testid="stSidebar"]');
    if (sidebar && sidebar.getAttribute("data-collapsed") === "true") return true;
    const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (!button) return false;
    button.click();
    // our click is not the user's choice: forget it, so a wide window opens the sidebar again
    setTimeout(() => stored().forEach((k) => window.localStorage.removeItem(k)), 0);
    return true;
  }};
  const retry = () => {{
    let tries = 0;
    const timer = setInterval(() => {{ if (fit() || ++tries > 100) clearInterval(timer); }}, 50);
  }};
  let pending = null;
  window.addEventListener("resize", () => {{ clearTimeout(pending); pending = setTimeout(retry, 250); }});
  retry();
}})();
</script>
"""


def apply_look() -> None:
    st.html(_CSS)
    st.html(_SCRIPT, unsafe_allow_javascript=True)
