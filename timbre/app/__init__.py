"""UI helpers for the Streamlit pages: session state, cached wrappers, shared widgets."""
