"""The cms service: the marketplace's editorial pages, each publish a new stored version."""
