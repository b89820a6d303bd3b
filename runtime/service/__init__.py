"""Hosting a service: settings, the per-service context, and the host that runs it all."""

from runtime.service.context import ServiceContext
from runtime.service.host import Job, ServiceDefinition, ServiceHost, serve
from runtime.service.settings import Settings

__all__ = ["Job", "ServiceContext", "ServiceDefinition", "ServiceHost", "Settings", "serve"]
