"""HTTP routes, one module per area: each parses the request, calls one service method and answers."""
