"""One module per resource; `service.app` wires them together."""
