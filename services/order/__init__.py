"""The order service: places orders and orchestrates the order-creation saga."""
