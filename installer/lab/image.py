"""The lab's node image: Debian 12 from Debian's packages alone (debootstrap, then podman import;
no registry). Built once and cached under a tag made from the hash of its recipe."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

from installer.lab import paths, podman
from installer.lab.podman import LabError

REPOSITORY = "localhost/kinstall-node"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-apt", "openssh-server", "iproute2", "sudo",
            "procps", "kmod", "iputils-ping", "ca-certificates", "netcat-openbsd")
# Units a container does not need or cannot run; masked so the node boots to "running".
MASKED = ("getty@tty1.service", "serial-getty@console.service", "console-getty.service", "systemd-udevd.service",
          "systemd-udev-trigger.service", "systemd-remount-fs.service", "apt-daily.timer",
          "apt-daily-upgrade.timer", "e2scrub_reap.service", "e2scrub_all.timer", "fstrim.timer",
          "systemd-firstboot.service", "dpkg-db-backup.timer",
          # the lab bind-mounts each node's own machine id read-only: nothing to commit
          "systemd-machine-id-commit.service")
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt/archives")
RECIPE_VERSION = 1


def _file(name: str) -> str:
    return resources.files("installer.lab").joinpath("files", name).read_text(encoding="utf-8")


def recipe() -> dict:
    return {"version": RECIPE_VERSION, "suite": SUITE, "mirror": MIRROR, "packages": PACKAGES, "masked": MASKED,
            "trim": TRIM, "init": _file("kinstall-init"), "sshd": _file("sshd-kinstall.conf"),
            "ssh_hostkey": _file("ssh-hostkey.conf")}


def tag() -> str:
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]
    return f"{REPOSITORY}:{digest}"


def ensure(report=lambda message: None) -> tuple[str, float]:
    """The image's tag, building it when missing; and the seconds the build took (0 if cached)."""
    name = tag()
    if podman.exists("image", name):
        return name, 0.0
    start = time.monotonic()
    build_dir = paths.cache() / f"build-{name.rsplit(':', 1)[1]}"
    rootfs = build_dir / "rootfs"
    try:
        shutil.rmtree(build_dir, ignore_errors=True)
        rootfs.mkdir(parents=True)
        debs = paths.cache() / "debootstrap"
        debs.mkdir(parents=True, exist_ok=True)
        report(f"building the node image {name} with debootstrap ({SUITE}, about a minute)")
        _debootstrap(rootfs, debs)
        _customize(rootfs)
        _import(rootfs, name)
    except BaseException:
        if podman.exists("image", name):
            podman.run("rmi", "-f", name, check=False)
        raise
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    podman.run("tag", name, f"{REPOSITORY}:latest")
    return name, time.monotonic() - start


def _debootstrap(rootfs: Path, debs: Path) -> None:
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", f"--cache-dir={debs}",
               SUITE, str(rootfs), MIRROR]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    except FileNotFoundError:
        raise LabError("debootstrap is not installed; run `kinstall lab doctor` to see what is missing") from None
    if result.returncode != 0:
        log = rootfs / "debootstrap" / "debootstrap.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else result.stderr[-1500:]
        raise LabError(f"debootstrap failed (is {MIRROR} reachable?):\n{tail}")


def _customize(rootfs: Path) -> None:
    for relative in TRIM:
        target = rootfs / relative
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir()
    for key in (rootfs / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc" / "machine-id").write_text("")  # the lab mounts each node's own
    (rootfs / "etc" / "ssh" / "sshd_config.d" / "kinstall.conf").write_text(_file("sshd-kinstall.conf"))
    dropin = rootfs / "etc" / "systemd" / "system" / "ssh.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "kinstall-hostkey.conf").write_text(_file("ssh-hostkey.conf"))
    init = rootfs / "usr" / "local" / "sbin" / "kinstall-init"
    init.write_text(_file("kinstall-init"))
    init.chmod(0o755)
    systemd = rootfs / "etc" / "systemd" / "system"
    for unit in MASKED:
        link = systemd / unit
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to("/dev/null")
    (rootfs / "root" / ".ssh").mkdir(mode=0o700, exist_ok=True)
    # debootstrap leaves fresh package lists: Ansible's apt cache_valid_time would then skip
    # `apt-get update` on a node and find no packages. Make them look old.
    lists = rootfs / "var" / "lib" / "apt" / "lists"
    for path in [lists, *lists.rglob("*")]:
        os.utime(path, (0, 0), follow_symlinks=False)


def _import(rootfs: Path, name: str) -> None:
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    result = subprocess.run(["podman", "import", "--change", 'CMD ["/usr/local/sbin/kinstall-init"]',
                             "--change", "STOPSIGNAL=SIGRTMIN+3", "-", name], stdin=tar.stdout,
                            capture_output=True, text=True)
    tar.stdout.close()
    if tar.wait() != 0 or result.returncode != 0:
        raise LabError(f"podman import of the node image failed: {result.stderr.strip()[-800:]}")
