"""A4CO runtime: the library generated code and services run on."""
