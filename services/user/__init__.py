"""The user service: registers users, keeps their profiles and preferences, segments them."""
