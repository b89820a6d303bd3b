"""A4CO code generator: load -> validate -> model (IR) -> check -> render -> write.

A build-time tool: nothing outside `codegen/` imports it.
"""
