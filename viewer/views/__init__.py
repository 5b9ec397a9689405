"""Web views, one module per page family: each parses the request, calls one library function, renders."""
