"""Who may call the service: API keys, OAuth2 bearer tokens, scopes and rate limits.

`api_keys` keeps keys as hashes, `auth` turns a request's credentials into a `Caller` (or a
401/403), `rate_limit` spaces each caller's requests. The JWT checks, shared with the CDS
Hooks endpoints, are `jwt` (the verifier), `keys` (where public keys come from) and
`replay` (each CDS token used once, on any replica). `key_files` keeps the secrets the
service makes for itself when none is configured.
"""
