"""The loyalty service: points per delivered order and the tier they reach."""
