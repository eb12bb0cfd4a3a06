"""The worker runtime: the Faust app, batch consumer, engine, alert sinks, control topic, publishing, metrics and health."""
