"""A4CO's operator side: what runs the platform, never what runs in it.

- `a4co.cli`: the `a4co` command (`up`, `demo`, `status`, `dlq`);
- `a4co.launcher`: starts the platform (its servers, then a process per service) and keeps
  it running; `python -m a4co.launcher.provision` provisions a deployed one;
- `a4co.infra`: NATS, PostgreSQL and Redis, external or embedded servers started here.

Services and generated code import `runtime`, never this package: `a4co` imports `runtime`,
not the reverse (tests/unit/test_import_direction.py).
"""
