import pytest

from installer.inventory.documents import ParseError, load_ini, load_yaml, looks_like_ini


def test_yaml_positions_are_one_based_for_keys_and_values():
    doc, findings = load_yaml("all:\n  vars:\n    kube_version: 1.35.8\n", "h.yml")
    assert findings == []
    assert doc.data == {"all": {"vars": {"kube_version": "1.35.8"}}}
    assert doc.key_positions[("all", "vars", "kube_version")] == (3, 5)
    assert doc.positions[("all", "vars", "kube_version")] == (3, 19)


def test_yaml_duplicate_key_is_reported_at_the_second_one():
    _, findings = load_yaml("a: 1\nb: 2\na: 3\n", "h.yml")
    assert [(f.line, f.column, f.message) for f in findings] == [
        (3, 1, "duplicate key 'a' (first at line 1); YAML keeps only the last one, remove one of them")]


def test_yaml_syntax_error_gives_the_parsers_line_and_column():
    with pytest.raises(ParseError) as caught:
        load_yaml("all:\n  hosts:\n    - a\n   b: 1\n", "h.yml")
    finding = caught.value.finding
    assert (finding.file, finding.line) == ("h.yml", 4)
    assert finding.message.startswith("YAML syntax error:")


def test_yaml_recursive_alias_is_refused_not_followed():
    with pytest.raises(ParseError) as caught:
        load_yaml("a: &x\n  b: *x\n", "h.yml")
    assert "refers to itself" in caught.value.finding.message


def test_yaml_local_tags_and_dates_stay_strings():
    doc, _ = load_yaml("pw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3034\nwhen: 2024-01-01\n", "h.yml")
    assert doc.data["pw"].startswith("$ANSIBLE_VAULT")
    assert doc.data["when"] == "2024-01-01"


def test_ini_reads_values_like_ansible():
    doc, _ = load_ini("[all:vars]\nflag=true\nother=True\nport=22\nname='x y'\n", "i.ini")
    assert doc.data["all"]["vars"] == {"flag": "true", "other": True, "port": 22, "name": "x y"}


def test_ini_hosts_children_ports_and_positions():
    text = "top1\n[kube_node]\nnode1:2222 ip=10.0.0.1\n[k8s_cluster:children]\nkube_node\n"
    doc, _ = load_ini(text, "i.ini")
    groups = doc.data["all"]["children"]
    assert groups["ungrouped"]["hosts"] == {"top1": None}
    assert groups["kube_node"]["hosts"]["node1"] == {"ansible_port": 2222, "ip": "10.0.0.1"}
    assert groups["k8s_cluster"]["children"] == {"kube_node": None}
    assert doc.key_positions[("all", "children", "kube_node", "hosts", "node1", "ip")] == (3, 12)


@pytest.mark.parametrize("text, message", [
    ("[etcd:hosts\n", "INI syntax error: '[etcd:hosts' is not a section header; use [group], [group:vars] "
                      "or [group:children]"),
    ("[etcd:bogus]\n", "INI syntax error: '[etcd:bogus]' is not a section header; use [group], [group:vars] "
                       "or [group:children]"),
    ("[all:vars]\njusttext\n", "INI syntax error: 'justtext' in [all:vars] is not key=value"),
    ("[etcd]\nnode1 lonely\n", "INI syntax error: 'lonely' after host 'node1' is not key=value"),
    ("[etcd]\nnode1 a='unclosed\n", "INI syntax error: No closing quotation"),
])
def test_ini_syntax_errors_name_the_line(text, message):
    with pytest.raises(ParseError) as caught:
        load_ini(text, "i.ini")
    assert caught.value.finding.message == message
    assert caught.value.finding.line == text.count("\n")


def test_format_detection():
    assert looks_like_ini("# comment\n[kube_node]\nnode1\n")
    assert not looks_like_ini("all:\n  hosts: {}\n")
    assert not looks_like_ini("[{a: 1}]\n")


def test_ini_escaped_host_name_keeps_a_position():
    """shlex unescapes '0\\0' to '00', which is not in the raw line; found by hypothesis."""
    doc, _ = load_ini("0\\0\n", "i.ini")
    assert doc.key_positions[("all", "children", "ungrouped", "hosts", "00")] == (1, 1)
