"""What can be fine-tuned: presets, model resolution (offline first) and task heads."""
