"""The run-directory contract shared by trainer, export and cockpit: standard library only."""
