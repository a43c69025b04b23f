"""What the service tells its operators: structured JSON logs (`logs`) and Prometheus
metrics (`metrics`)."""
