import json
from datetime import UTC, datetime

from installer import certificates

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def test_lines_from_the_hosts_sorted_soonest_first_and_marked():
    found = [certificates.parse("node1", "/etc/kubernetes/pki/apiserver.crt\tNov 28 17:20:19 2027 GMT\tCN=kube-apiserver"),
             certificates.parse("node2", "/etc/etcd/pki/member.crt\tDec  5 00:00:00 2026 GMT\tCN=node2"),
             certificates.parse("node1", "/etc/kubernetes/admin.conf (client certificate)\tJan  1 00:00:00 2026 GMT\t"
                                         "O=system:masters,CN=kubernetes-admin")]
    found.sort(key=lambda c: c.expires)
    text = certificates.render(found, 30, NOW)
    lines = text.splitlines()
    assert "admin.conf (client certificate)" in lines[1] and lines[1].endswith("EXPIRED")
    assert "/etc/etcd/pki/member.crt" in lines[2] and lines[2].endswith("renew within 30 days")
    assert "apiserver.crt" in lines[3] and "renew" not in lines[3] and " 365 " in lines[3]
    assert lines[-1] == "3 certificates; 2 expire within 30 days; renew with `kinstall certs renew`"


def test_certs_check_says_when_each_control_plane_renews_or_that_nothing_will(tmp_path):
    from installer.certificates import render_renewals, renewals

    path = tmp_path / "renewal.json"
    path.write_text(json.dumps({"cp1": ["NextElapseUSecRealtime=Mon 2027-01-04 03:00:00 UTC", "ActiveState=active"],
                                "cp2": ["ActiveState=inactive", "NextElapseUSecRealtime="]}))
    assert render_renewals(renewals(path)) == "automatic renewal: cp1 next Mon 2027-01-04 03:00:00 UTC; no timer on cp2"
    path.write_text(json.dumps({"cp1": ["ActiveState=inactive", "NextElapseUSecRealtime="]}))
    assert render_renewals(renewals(path)) == \
        "automatic renewal: off (auto_renew_certificates); renew with `kinstall certs renew`"
    assert render_renewals(renewals(tmp_path / "absent.json")) == ""  # an operation run before this file existed
