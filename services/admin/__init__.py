"""The admin service: the back office (artisan verification queue, dead letters and redrive)."""
