"""The lab's node image: Debian 12 from Debian's packages alone (debootstrap, then podman import;
no registry). Built once and cached under a tag made from the hash of its recipe."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

from installer import paths
from installer.lab import podman
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
    """The image's tag, building it when missing; and the seconds the build took (0 if cached).
    One build at a time on a machine: a second `lab up` waits for the first, and says so."""
    name = tag()
    if podman.exists("image", name):
        return name, 0.0
    start = time.monotonic()
    with build_lock(report) as lock:
        if podman.exists("image", name):  # built by the one we waited for
            return name, time.monotonic() - start
        clean_stale_builds()
        # A fresh directory of its own: a build cut short never leaves one a later build reuses.
        build_dir = Path(tempfile.mkdtemp(prefix="build-", dir=paths.cache()))
        rootfs = build_dir / "rootfs"
        try:
            rootfs.mkdir()
            debs = paths.cache() / "debootstrap"
            debs.mkdir(parents=True, exist_ok=True)
            report(f"building the node image {name} with debootstrap ({SUITE}, about a minute)")
            _debootstrap(rootfs, debs, lock)
            _customize(rootfs)
            _import(rootfs, name)
        except BaseException:
            if podman.exists("image", name):
                podman.run("rmi", "-f", name, check=False)
            raise
        finally:
            unmount_below(build_dir)
            remove_tree(build_dir)
        podman.run("tag", name, f"{REPOSITORY}:latest")
    return name, time.monotonic() - start


@contextlib.contextmanager
def exclusive(path: Path, waiting: str = "", report=lambda message: None):
    """An exclusive flock on path for the block, released by the kernel when its holder dies (so a
    kinstall killed with SIGKILL never blocks the next); says `waiting` when it must wait. Yields
    the locked file's descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                report(waiting)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle.fileno()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def built_once(root: Path, marker: Path, build, what: str, report=lambda message: None) -> None:
    """Build root unless its marker exists, one kinstall at a time: a second kinstall that finds the
    marker missing waits for the first (on a lock named after root, in the cache's locks/), then
    finds it there. Builds write to root.partial, which they clear first, so two at once would
    destroy each other's work."""
    if marker.exists():
        return
    with exclusive(paths.cache() / "locks" / f"{root.name}.lock",
                   f"another kinstall is building {what}; waiting for it to finish", report):
        if not marker.exists():
            build()


def build_lock(report=lambda message: None):
    """One node image build at a time on a machine. debootstrap inherits the lock's descriptor, so a
    debootstrap left running by a killed build keeps the lock until it ends, and the next build
    never clears a directory it still writes to."""
    return exclusive(paths.cache() / "node-image.lock",
                     "another kinstall is building the node image; waiting for it to finish", report)


def clean_stale_builds() -> None:
    """What builds cut short left (debootstrap's /proc still mounted in their root file system):
    their mounts undone, then their directories removed. Called under the build lock."""
    for stale in sorted(paths.cache().glob("build-*")):
        if stale.is_dir() and not stale.is_symlink():
            unmount_below(stale)
            remove_tree(stale)


def _mounts_below(directory: Path) -> list[Path]:
    """Mount points at or below a directory, deepest first (from /proc/self/mountinfo)."""
    root = os.path.realpath(directory)
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            # the fifth field is the mount point, with spaces and the like octal-escaped
            point = line.split()[4].encode().decode("unicode_escape")
            if point == root or point.startswith(root + "/"):
                found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_below(directory: Path) -> None:
    for point in _mounts_below(directory):
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True, check=False)
    left = _mounts_below(directory)
    if left:
        raise LabError(f"{left[0]} is still mounted and would not unmount; unmount it (umount -l {left[0]}), "
                       "then run `kinstall lab up` again")


def remove_tree(directory: Path) -> None:
    """Remove a build directory, never crossing into another file system: a mount point left under
    it (had debootstrap bind-mounted /dev, the host's) is refused, not emptied."""
    if not directory.exists():
        return
    device = directory.lstat().st_dev
    for parent, dirs, _files in os.walk(directory):
        for name in dirs:
            child = Path(parent) / name
            if not child.is_symlink() and child.lstat().st_dev != device:
                raise LabError(f"{child} is another file system mounted inside a build directory; kinstall "
                               "removes nothing across it: unmount it, then run `kinstall lab up` again")
    shutil.rmtree(directory)


def _debootstrap(rootfs: Path, debs: Path, lock: int) -> None:
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", f"--cache-dir={debs}",
               SUITE, str(rootfs), MIRROR]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1200, pass_fds=(lock,))
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
