"""The calendar service: local fairs, tastings and workshops, and the bookings of their seats."""
