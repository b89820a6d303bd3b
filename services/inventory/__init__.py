"""The inventory service: stock levels, reservations that expire, thresholds."""
