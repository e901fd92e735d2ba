"""HTTP routes of the executor, one module per resource."""
