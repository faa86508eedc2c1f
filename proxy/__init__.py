"""The serving path and the composition root: app, runtime, config, forwarding, auth,
errors, admin routes, logs and the CLI."""
