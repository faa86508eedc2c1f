"""Training the refusal and caution classifier: its corpus, the training script and a
throughput benchmark. Not shipped in the wheel; the wheel carries only the weights and the
feature code (`tunewatch.monitoring.classifier`)."""
