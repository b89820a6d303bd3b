"""The auth service: logins, RS256 access tokens, rotating refresh tokens, sessions, JWKS."""
