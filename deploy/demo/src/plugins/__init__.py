"""Export plugins; one is chosen by settings.export_plugin."""
