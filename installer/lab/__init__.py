"""The local node lab: Debian 12 machines (podman containers with systemd and sshd) for tests,
Molecule and users who want to try kinstall before pointing it at real servers."""
