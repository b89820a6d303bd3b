"""The notification service: turns platform events into email, push and live notifications."""
