"""The Hyperpolyglot dashboard: a multi-page Streamlit app over precomputed artifacts (no model code)."""
