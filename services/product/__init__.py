"""The product service: the searchable catalogue, a read model fed by artisan and stock events."""
