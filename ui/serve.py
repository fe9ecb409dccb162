"""`streamlit run`, with app.py's st.navigation owning the routes from a server's first request."""

from __future__ import annotations

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli


def main() -> None:
    # A pages/ folder beside app.py puts a fresh Streamlit server in its old folder-listing mode
    # (streamlit/runtime/scriptrunner/script_runner.py `_mpa_v1`) until some session calls
    # st.navigation, which clears this flag (streamlit/commands/navigation.py). A bookmarked
    # /late_runs opened first after a restart then ran the page file alone, under a sidebar of
    # file names ("app", "late runs"). Clearing the flag up front is what st.navigation does itself.
    if hasattr(PagesManager, "uses_pages_directory"):
        PagesManager.uses_pages_directory = False
    # as `python -m streamlit` does, so the server sees the same command line
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
