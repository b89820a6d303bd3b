"""The analytics service: KPI read models projected from the platform's events, for admins."""
