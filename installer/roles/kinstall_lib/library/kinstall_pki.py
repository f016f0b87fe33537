#!/usr/bin/python3
"""A certificate authority and the certificates it signs, kept in a directory on the controller.
Idempotent: the CA is made once; a certificate is (re)issued only when it is missing, names other
hosts or addresses than asked, was signed by another CA or expires within 30 days. Keys are
written 0600 and never returned."""

import datetime
import ipaddress
import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_pki
short_description: keep a CA and its certificates on the controller
options:
  directory:
    description: "where ca.crt, ca.key and NAME.crt/NAME.key live"
    type: str
    required: true
  ca_common_name:
    description: "the CA's common name"
    type: str
    required: true
  certificates:
    description: "list of {name, common_name, usages: [server, client], dns: [], ips: []}"
    type: list
    elements: dict
    required: true
  days:
    description: "validity of issued certificates"
    type: int
    default: 3650
"""
RENEW_BEFORE = datetime.timedelta(days=30)


def _write(path, data, mode):
    partial = path + ".part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(partial, mode)
    os.replace(partial, path)


def main():
    module = AnsibleModule(argument_spec={
        "directory": {"type": "str", "required": True}, "ca_common_name": {"type": "str", "required": True},
        "certificates": {"type": "list", "elements": "dict", "required": True},
        "days": {"type": "int", "default": 3650}}, supports_check_mode=True)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = module.params["directory"]
    now = datetime.datetime.now(datetime.UTC)
    issued = []

    def key_bytes(key):
        # SEC1 ("EC PRIVATE KEY"), not PKCS#8: kubeadm (1.20 at least) shares the API server's etcd
        # client key with joining control planes and reads EC keys back only in SEC1 form.
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())

    ca_crt, ca_key = os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key")
    if not (os.path.exists(ca_crt) and os.path.exists(ca_key)):
        if module.check_mode:
            module.exit_json(changed=True, issued=["ca"])
        os.makedirs(directory, mode=0o700, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, module.params["ca_common_name"])])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=3650 * 3))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
                .sign(key, hashes.SHA256()))
        _write(ca_key, key_bytes(key), 0o600)
        _write(ca_crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        issued.append("ca")
    ca = x509.load_pem_x509_certificate(open(ca_crt, "rb").read())
    signer = serialization.load_pem_private_key(open(ca_key, "rb").read(), password=None)

    for spec in module.params["certificates"]:
        dns = sorted(set(spec.get("dns") or []))
        ips = sorted(set(str(ipaddress.ip_address(i)) for i in spec.get("ips") or []))
        usages = sorted(spec.get("usages") or [])
        crt, key_path = os.path.join(directory, spec["name"] + ".crt"), os.path.join(directory, spec["name"] + ".key")
        if os.path.exists(crt) and os.path.exists(key_path):
            current = x509.load_pem_x509_certificate(open(crt, "rb").read())
            try:
                san = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                have = (sorted(san.get_values_for_type(x509.DNSName)),
                        sorted(str(i) for i in san.get_values_for_type(x509.IPAddress)))
            except x509.ExtensionNotFound:
                have = ([], [])
            cn = current.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            expires = current.not_valid_after_utc if hasattr(current, "not_valid_after_utc") else \
                current.not_valid_after.replace(tzinfo=datetime.UTC)
            if (have == (dns, ips) and cn == spec["common_name"] and current.issuer == ca.subject
                    and expires - now > RENEW_BEFORE):
                continue
        issued.append(spec["name"])
        if module.check_mode:
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        eku = [{"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}[u]
               for u in usages]
        alt = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec["common_name"])]))
                   .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=module.params["days"]))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage(eku), critical=False))
        if alt:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        cert = builder.sign(signer, hashes.SHA256())
        _write(key_path, key_bytes(key), 0o600)
        _write(crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    module.exit_json(changed=bool(issued), issued=issued)


if __name__ == "__main__":
    main()
