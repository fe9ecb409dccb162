"""runops: bulk operations on a Prefect 3 server (service layer; never imports streamlit)."""
