"""A self-signed certificate for a first try of HTTPS (`python -m rag.serve init-tls --out DIR`)."""
from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from rag.errors import UsageError
from rag.fsutil import atomic_write

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


def write_self_signed(out: Path, names: list[str] | None = None, days: int = 365) -> tuple[Path, Path]:
    """Write `cert.pem` and `key.pem` (0600) valid for `names` (host names or IP addresses)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out = Path(out).expanduser()
    cert_path, key_path = out / "cert.pem", out / "key.pem"
    for path in (cert_path, key_path):
        if path.exists():  # replacing a key silently would break every client that pinned the old one
            raise UsageError(f"{path} exists; remove it or choose another --out")
    if days < 1:
        raise UsageError("--days must be at least 1")
    names = list(dict.fromkeys([*DEFAULT_NAMES, *(names or [])]))
    alternatives = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "private-rag (self-signed)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), mode=0o600)
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert_path, key_path
