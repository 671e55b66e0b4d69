"""The Open Data Rights face: people request and download their own data, signed in with OAuth 2 + PKCE."""
