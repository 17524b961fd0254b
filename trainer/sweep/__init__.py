"""`ftui sweep`: candidates planned from axes (``plan``), trained as plain runs (``runner``), reported
(``report``). ``python -m ftui.trainer.sweep FOLDER`` runs a created sweep (the detached way)."""
