"""The engine: the HF Trainer set-up and the loop around it (session, callback, commands, scale-out)."""
