"""The task dispatcher: one shared loop (base.py) and a strategy per mode."""
