"""The certificate each etcd member needs: one for serving clients and peers, named for every way
the member is reached (its inventory name, member name, address, localhost)."""

import ipaddress


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def etcd_member_certificates(hosts, hostvars):
    out = []
    for host in hosts:
        values = hostvars[host]
        # the address the role settled on (ip, else the default route's), else what the inventory says
        addresses = {str(a) for a in (values.get("etcd_address"), values.get("ip"), values.get("ansible_host")) if a}
        names = {host, values.get("etcd_member_name") or host, "localhost"}
        out.append({"name": f"member-{host}", "common_name": values.get("etcd_member_name") or host,
                    "usages": ["server", "client"], "dns": sorted(names | {a for a in addresses if not _is_ip(a)}),
                    "ips": sorted({a for a in addresses if _is_ip(a)} | {"127.0.0.1"})})
    return out


class FilterModule:
    def filters(self):
        return {"etcd_member_certificates": etcd_member_certificates}
