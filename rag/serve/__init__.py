"""`python -m rag.serve`: the local HTTPS API and web page (tokens, roles, TLS, audit)."""
