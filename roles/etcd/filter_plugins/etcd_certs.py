"""The certificate each etcd member needs: one for serving clients and peers, named for every way
the member is reached (its inventory name, member name, address, localhost)."""


def etcd_member_certificates(hosts, hostvars):
    out = []
    for host in hosts:
        values = hostvars[host]
        address = values.get("ip") or values.get("ansible_host") or host
        names = {host, values.get("etcd_member_name") or host, "localhost"}
        out.append({"name": f"member-{host}", "common_name": values.get("etcd_member_name") or host,
                    "usages": ["server", "client"], "dns": sorted(names),
                    "ips": sorted({str(address), "127.0.0.1"})})
    return out


class FilterModule:
    def filters(self):
        return {"etcd_member_certificates": etcd_member_certificates}
