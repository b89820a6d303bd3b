"""The gateway: the platform's edge. Routes `/api/<service>/...`, checks tokens, limits rates."""
