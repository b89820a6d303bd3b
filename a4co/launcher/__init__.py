"""Run the platform as processes: its servers, then one process per service, until stopped.

`Platform` is the API (tests and `make run`); `python -m a4co.launcher` is the command;
`Supervisor` restarts the services that end while it serves.

PlatformError (runtime.errors)
 └── LaunchError   a service exited early, never became ready, or is not the platform's
"""

from a4co.launcher.errors import LaunchError
from a4co.launcher.platform import DEFAULT_SERVICES, Platform, port_env, url_env
from a4co.launcher.process import ServiceSpec
from a4co.launcher.supervisor import RestartPolicy, Supervisor

__all__ = [
    "DEFAULT_SERVICES",
    "LaunchError",
    "Platform",
    "RestartPolicy",
    "ServiceSpec",
    "Supervisor",
    "port_env",
    "url_env",
]
