"""The emulated HSM's cryptography.

Two layers, as in pyca/cryptography: ``primitives`` (hazmat: JWA names mapped to ``cryptography`` objects) is used
only by ``operations`` (the recipe layer services call). ``keygen`` and ``jwk`` create and convert key material,
``sealing`` protects everything the emulator stores. Every failure leaves this package as one ``CryptoError``.
"""
