"""The shipping service: opens a shipment per confirmed order and follows it to delivery."""
