"""Streamlit custom components of the dashboard: the WebGL token map and the copy box."""
