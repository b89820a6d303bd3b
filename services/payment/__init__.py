"""The payment service: charges orders through a gateway adapter and splits the money."""
