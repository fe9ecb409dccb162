"""Shared Streamlit pieces (guard, sidebar, dialog, progress, formatting); pages stay thin."""
