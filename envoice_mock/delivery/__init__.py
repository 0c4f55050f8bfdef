"""Webhooks: registry, outbox, attempts, retries, failing/probe/catch-up, chaos, the delivery log."""
