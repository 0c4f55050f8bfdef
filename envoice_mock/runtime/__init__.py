"""The running mock's parts wired together: spec, clock, store, webhook engine, state file."""
