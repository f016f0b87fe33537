"""kinstall_pki (kinstall_lib; etcd and Calico Typha use it), run as Ansible runs it: the CA and
the certificates it keeps on the controller, in the forms their readers take."""

import json
import subprocess
import sys

from tests.paths import ROLES

MODULE = ROLES / "kinstall_lib" / "library" / "kinstall_pki.py"


def _run(tmp_path, **args):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    done = subprocess.run([sys.executable, str(MODULE), str(path)], capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout)


def test_keys_are_0600_sec1_and_never_returned_and_a_second_call_issues_nothing(tmp_path):
    pki = tmp_path / "pki"
    certificates = [{"name": "client", "common_name": "kube-apiserver-etcd-client", "usages": ["client"]}]
    first = _run(tmp_path, directory=str(pki), ca_common_name="etcd-ca", certificates=certificates)
    assert first["changed"] and sorted(first["issued"]) == ["ca", "client"], first
    for name in ("ca.key", "client.key"):
        text = (pki / name).read_text()
        # kubeadm reads an EC key shared with joining control planes only in SEC1 form
        assert text.startswith("-----BEGIN EC PRIVATE KEY-----"), name
        assert oct((pki / name).stat().st_mode & 0o777) == "0o600"
        assert text.splitlines()[1] not in json.dumps(first)
    again = _run(tmp_path, directory=str(pki), ca_common_name="etcd-ca", certificates=certificates)
    assert not again["changed"], again
