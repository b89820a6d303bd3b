"""The recommendation service: products for each user from behaviour, segment, catalogue."""
