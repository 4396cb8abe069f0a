"""Authentication shared by the gateway, the local runner and the tests.

- :mod:`vidsage.auth.keys`: the API key format (``vsk_<id>_<secret>``), generation, parsing and
  hashing (the standard library only);
- :mod:`vidsage.auth.signing`: HMAC-SHA256 signed links and session-id digests (the standard library
  only);
- :mod:`vidsage.auth.keystore`: the ``keys`` KV bucket (create, list, revoke, bootstrap) and the
  watched in-memory copy every gateway authenticates from (needs the ``service`` extra).

Owner names and the wire models of the key routes are :mod:`vidsage.contracts.keys`.
"""
