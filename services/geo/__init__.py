"""The geo service: the provinces of Andalusia, shipping zones, distances, nearby provinces."""
