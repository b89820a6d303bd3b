"""The artisan service: applications, verification, product listings and performance tiers."""
