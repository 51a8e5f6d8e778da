"""A local certificate authority and the certificates it signs (``cryptography``).

``LocalCA.ensure(directory)`` creates, once, ``ca.pem`` (0644) and ``ca-key.pem`` (0600)
and loads them on later calls. ``ca.issue(path, name, hosts)`` writes a certificate
(``path``, 0644) and its key (``path`` with ``-key.pem``, 0600) valid for both server and
client authentication, with every host name and IP address of ``hosts`` as subject
alternative names (an address also as a DNS name: proton checks only those).
``ca.ensure_issued`` issues only when the certificate is missing,
signed by another CA or lacks one of the hosts, so that servers keep their certificate
across ``up`` runs. Keys are EC P-256 in the traditional "EC PRIVATE KEY" PEM form, which
RabbitMQ (Erlang), nats-server (Go) and Python all read.

For the local stack: ``local_tls(directory, mutual)`` is the plan's :class:`TLS` on the
local CA, and ``ensure_certificates(tls, directory, hosts, clients)`` makes what it names.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hybridmsg.backends.process import write_private
from hybridmsg.errors import PlanError
from hybridmsg.plan import TLS

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_FILE = "server.pem"
CLIENTS_DIR = "clients"
VALIDITY = datetime.timedelta(days=825)
RENEW_BEFORE = datetime.timedelta(days=30)
LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


def key_file_of(cert_file: Path | str) -> Path:
    """Where the key of a certificate issued here lives: ``x.pem`` -> ``x-key.pem``."""
    path = Path(cert_file)
    return path.with_name(f"{path.stem}-key.pem")


def default_hosts(*extra: str) -> tuple[str, ...]:
    """Loopback names and addresses, this machine's host name, and ``extra``."""
    return tuple(dict.fromkeys((*LOCAL_HOSTS, socket.gethostname(), *extra)))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hybridmsg"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _sans(host: str) -> tuple[x509.GeneralName, ...]:
    """The subject alternative names of ``host``: an IP address is named both as an
    address and as a DNS name, since proton (qdrouterd, the ``amqp://`` driver) checks a
    peer's name against DNS names only, while Python, Go and Erlang check addresses."""
    try:
        address = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return (x509.DNSName(host),)
    return address, x509.DNSName(host)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    write_private(path, pem.decode())


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)


@dataclass(frozen=True)
class LocalCA:
    """A CA whose certificate and key are files in ``directory``."""

    directory: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def ca_file(self) -> Path:
        return self.directory / CA_FILE

    @classmethod
    def ensure(cls, directory: Path) -> LocalCA:
        """The CA of ``directory``, created on first use."""
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        cert_file, key_file = directory / CA_FILE, directory / CA_KEY_FILE
        if cert_file.exists() and key_file.exists():
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return cls(directory, cert, key)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"hybridmsg local CA {socket.gethostname()}"))
            .issuer_name(_name(f"hybridmsg local CA {socket.gethostname()}"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + 2 * VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_key(key_file, key)
        _write_cert(cert_file, cert)
        return cls(directory, cert, key)

    def issue(self, path: Path, common_name: str, hosts: tuple[str, ...] = ()) -> Path:
        """Write a certificate for ``common_name`` and ``hosts`` to ``path`` (key beside it)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([san for h in hosts for san in _sans(h)]),
                critical=False,
            )
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        _write_key(key_file_of(path), key)
        _write_cert(path, builder.sign(self.key, hashes.SHA256()))
        return path

    def ensure_issued(self, path: Path, common_name: str, hosts: tuple[str, ...] = ()) -> Path:
        """``issue`` unless ``path`` already holds a fitting certificate of this CA."""
        if not (path.exists() and key_file_of(path).exists() and self._fits(path, hosts)):
            self.issue(path, common_name, hosts)
        return path

    def _fits(self, path: Path, hosts: tuple[str, ...]) -> bool:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        if cert.not_valid_after_utc < datetime.datetime.now(datetime.UTC) + RENEW_BEFORE:
            return False
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return not hosts
        return all(san in names for host in hosts for san in _sans(host))


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not cert_sign,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def local_tls(directory: Path, mutual: bool = False) -> TLS:
    """TLS from the local CA kept in ``directory`` (see :func:`ensure_certificates`)."""
    return TLS(
        ca_file=str(directory / CA_FILE),
        cert_file=str(directory / SERVER_FILE),
        key_file=str(key_file_of(directory / SERVER_FILE)),
        client_dir=str(directory / CLIENTS_DIR) if mutual else None,
    )


def ensure_certificates(
    tls: TLS, directory: Path, hosts: tuple[str, ...], clients: tuple[str, ...]
) -> None:
    """Make sure every file ``tls`` names exists.

    Files inside ``directory`` come from its local CA (created, issued or renewed as
    needed: the server certificate for ``hosts``, one client certificate per name of
    ``clients`` under mutual TLS); files elsewhere are the deployer's and must exist.
    """
    ca = LocalCA.ensure(directory) if tls.ca_file == local_tls(directory).ca_file else None
    certs = [(Path(tls.cert_file), "hybridmsg server", default_hosts(*hosts))]
    for name in clients:
        cert, _ = tls.client_files(name) or ("", "")
        certs.append((Path(cert), name, ()))
    for cert, common_name, cert_hosts in certs:
        if ca is not None and cert.is_relative_to(directory):
            ca.ensure_issued(cert, common_name, cert_hosts)
    needed = [Path(tls.ca_file), Path(tls.cert_file), Path(tls.key_file)]
    needed += [path for cert, _, _ in certs[1:] for path in (cert, key_file_of(cert))]
    for path in needed:
        if not path.is_file():
            raise PlanError(f"TLS file {path} does not exist; create it or run up without it")
