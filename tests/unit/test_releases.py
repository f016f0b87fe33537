from installer import releases


def test_every_current_release_with_binary_checksums_is_supported():
    table = releases.checksums()
    for minor in ("1.34", "1.35", "1.36"):
        expected = {v for v in table["kubeadm"]["amd64"] if v.startswith(minor + ".")}
        for binary in releases.KUBE_BINARIES:
            for arch in releases.archs():
                expected &= set(table[binary][arch])
        found = {v for v, r in releases.supported().items() if r.minor == minor}
        assert found == expected and found, minor


def test_a_release_missing_one_checksum_is_not_supported(monkeypatch):
    table = {k: {a: dict(v) for a, v in archs.items()} for k, archs in releases.checksums().items()}
    del table["kubelet"]["arm64"]["1.36.4"]
    releases.supported.cache_clear()
    monkeypatch.setattr(releases, "checksums", lambda: table)
    try:
        assert "1.36.4" not in releases.supported()
        assert "1.36.3" in releases.supported()
    finally:
        releases.supported.cache_clear()


def test_versions_parse_with_or_without_v():
    assert releases.parse_version("v1.35.2") == (1, 35, 2)
    assert releases.parse_version("1.35") is None
    assert releases.get("v1.36.4").version == "1.36.4"
    assert releases.get("1.33.0") is None


def test_pinned_components_have_checksums_for_every_arch():
    for release in releases.supported().values():
        for component, version in release.components.items():
            for arch in releases.archs():
                assert releases.component_checksum(component, arch, version), (release.version, component)


def test_summarize_compresses_per_minor():
    assert releases.summarize(["1.35.1", "1.34.0", "1.34.2", "1.35.0"]) == "1.34.0-1.34.2, 1.35.0-1.35.1"
