"""HTTP routes, one module per resource: parse → validate → store → respond."""
