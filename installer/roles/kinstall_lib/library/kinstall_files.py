#!/usr/bin/python3
"""Bring many files, directories and links on a host to the state asked, in one call.

A role's file work (directories, links, rendered configuration, certificates) done as one task
per file costs one round trip to the host each; on a re-run that changes nothing those round
trips are the whole cost. This module does the same work as ansible.builtin.file/copy for a list
of entries in one round trip, and reports which paths it changed. `content` is never echoed back
(it may hold a private key)."""

import grp
import hashlib
import os
import pwd
import shlex
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_files
short_description: directories, links, files with given content and copies of host files, in one call
options:
  files:
    description: what to ensure, in order
    type: list
    elements: dict
    required: true
    suboptions:
      path: {description: the path to manage, type: str, required: true}
      state:
        description: >-
          directory; link (path -> src, replacing a file or link there); file (holding content);
          copy (a copy of src, a file on the host, or of every file directly in src when it is a directory)
        type: str
        choices: [directory, link, file, copy]
        required: true
      src: {description: the link target (link) or the host file or directory to copy (copy), type: str}
      content: {description: the file's text (file), never logged, type: str}
      mode: {description: octal mode as a string, e.g. "0644", type: str}
      owner: {description: user owning the path, type: str}
      group: {description: group owning the path, type: str}
      validate: {description: "a command run on the new file (%s) before it replaces the old one (file)", type: str}
"""

ENTRY = {"path": {"type": "str", "required": True},
         "state": {"type": "str", "required": True, "choices": ["directory", "link", "file", "copy"]},
         "src": {"type": "str"}, "content": {"type": "str", "no_log": True}, "mode": {"type": "str"},
         "owner": {"type": "str"}, "group": {"type": "str"}, "validate": {"type": "str"}}


class Files:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.changed = []

    def fail(self, path, message):
        self.module.fail_json(msg=f"{path}: {message}", changed_paths=self.changed)

    def note(self, path):
        if path not in self.changed:
            self.changed.append(path)

    def attributes(self, path, entry, default_mode=None):
        """Mode and ownership; a link's own attributes are never touched."""
        mode = entry.get("mode") or default_mode
        uid = gid = -1
        if entry.get("owner"):
            try:
                uid = pwd.getpwnam(entry["owner"]).pw_uid
            except KeyError:
                self.fail(path, f"user {entry['owner']} does not exist on this host")
        if entry.get("group"):
            try:
                gid = grp.getgrnam(entry["group"]).gr_gid
            except KeyError:
                self.fail(path, f"group {entry['group']} does not exist on this host")
        if self.check and not os.path.lexists(path):
            return
        found = os.lstat(path)
        if mode is not None and stat.S_IMODE(found.st_mode) != int(mode, 8):
            self.note(path)
            if not self.check:
                os.chmod(path, int(mode, 8))
        if (uid != -1 and found.st_uid != uid) or (gid != -1 and found.st_gid != gid):
            self.note(path)
            if not self.check:
                os.chown(path, uid, gid)

    def directory(self, path, entry):
        if os.path.lexists(path) and not os.path.isdir(path):
            self.fail(path, "exists and is not a directory; move it away and re-run")
        if not os.path.isdir(path):
            self.note(path)
            if not self.check:
                os.makedirs(path)
        self.attributes(path, entry, "0755")

    def link(self, path, entry):
        if not entry.get("src"):
            self.fail(path, "a link needs src")
        if os.path.islink(path) and os.readlink(path) == entry["src"]:
            return
        if os.path.isdir(path) and not os.path.islink(path):
            self.fail(path, "is a directory; a link cannot replace it")
        self.note(path)
        if not self.check:
            # A new link beside it, renamed over the old one: the path never dangles (a binary
            # linked from /usr/local/bin may be run at any moment).
            partial = f"{path}.kinstall-{os.getpid()}"
            if os.path.lexists(partial):
                os.unlink(partial)
            os.symlink(entry["src"], partial)
            os.replace(partial, path)

    def write(self, path, data, entry, default_mode):
        if os.path.isdir(path) and not os.path.islink(path):
            self.fail(path, "is a directory; a file cannot replace it")
        if os.path.islink(path) or not os.path.isfile(path) or self.module.sha256(path) != hashlib.sha256(data).hexdigest():
            self.note(path)
            if not self.check:
                directory = os.path.dirname(path) or "."
                if not os.path.isdir(directory):
                    self.fail(path, f"its directory {directory} does not exist")
                handle, partial = tempfile.mkstemp(dir=directory, prefix=".kinstall-")
                try:
                    os.fchmod(handle, int(entry.get("mode") or default_mode, 8))
                    with os.fdopen(handle, "wb") as out:
                        out.write(data)
                    if entry.get("validate"):
                        self.validate(path, partial, entry["validate"])
                    os.replace(partial, path)
                finally:
                    if os.path.exists(partial):
                        os.unlink(partial)
        self.attributes(path, entry, default_mode)

    def validate(self, path, partial, command):
        if "%s" not in command:
            self.fail(path, f"validate needs %s in its command: {command}")
        rc, out, err = self.module.run_command(command.replace("%s", shlex.quote(partial)), use_unsafe_shell=True)
        if rc != 0:
            self.fail(path, f"the new content fails `{command}`, so the old file stays: {(err or out).strip()}")

    def file(self, path, entry):
        if entry.get("content") is None:
            self.fail(path, "a file needs content")
        self.write(path, entry["content"].encode(), entry, "0644")

    def copy(self, path, entry):
        source = entry.get("src")
        if not source or not os.path.exists(source):
            self.fail(path, f"the source {source} does not exist on this host")
        if os.path.isdir(source):
            self.directory(path, {"mode": None})
            for name in sorted(os.listdir(source)):
                if os.path.isfile(os.path.join(source, name)) and not name.startswith("."):
                    self.copy_file(os.path.join(source, name), os.path.join(path, name), entry)
        else:
            self.copy_file(source, path, entry)

    def copy_file(self, source, path, entry):
        default_mode = oct(stat.S_IMODE(os.stat(source).st_mode))[2:].zfill(4)
        if os.path.isfile(path) and not os.path.islink(path) and self.module.sha256(path) == self.module.sha256(source):
            self.attributes(path, entry, default_mode)
            return
        self.note(path)
        if not self.check:
            handle, partial = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".kinstall-")
            try:
                with os.fdopen(handle, "wb") as out, open(source, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chmod(partial, int(entry.get("mode") or default_mode, 8))
                os.replace(partial, path)
            finally:
                if os.path.exists(partial):
                    os.unlink(partial)
        self.attributes(path, entry, default_mode)


def main():
    module = AnsibleModule(argument_spec={"files": {"type": "list", "elements": "dict", "required": True,
                                                    "options": ENTRY}},
                           supports_check_mode=True)
    files = Files(module)
    for entry in module.params["files"]:
        getattr(files, entry["state"])(entry["path"], entry)
    module.exit_json(changed=bool(files.changed), changed_paths=files.changed)


if __name__ == "__main__":
    main()
