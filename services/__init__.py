"""A4CO services: handlers and domain logic on generated code and the runtime."""
