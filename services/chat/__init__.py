"""The chat service: conversations between customers and artisans, and their messages."""
