"""The run-directory contract shared by trainer, export and cockpit: standard library only.

    layout         where a run's files are: RunDir, create_run/open_run, pidfile, checkpoint listing, the best one
    events_schema  the versioned, typed events and commands
    events         writing and tailing events.jsonl; writing commands.jsonl
    runstate       a run's events folded into its current state
    summary        the runs under a folder, the newest one, the `ftui runs` rows
    checkpoints    whether a checkpoint is intact, the newest intact one
    errors         the one error root and the exit codes
    tables, conll  the data readers export shares with the trainer
"""
