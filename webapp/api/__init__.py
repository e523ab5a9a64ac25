"""The JSON API: its routes, request and response shapes, the OpenAPI document built from them,
the typing preview and cross-origin reads."""
