"""A throwaway TLS certificate for tests that serve a snapshot over HTTPS."""

from __future__ import annotations


def self_signed_certificate(directory: str, host: str = "127.0.0.1") -> tuple[str, str]:
    """Write a throwaway self-signed certificate and key for ``host``; return their paths."""
    import subprocess
    from pathlib import Path

    cert, key = str(Path(directory) / "server.crt"), str(Path(directory) / "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=IP:{host}", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key
