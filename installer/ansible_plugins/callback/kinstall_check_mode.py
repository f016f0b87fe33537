"""Ansible callback for kinstall's drift preview: records each task that check mode could not
run (skipped without a skip_reason: a command, or a module without check mode support), as
opposed to tasks skipped by their own `when:`. One JSON line per host and task, with its stage
(from the marker play that opens each stage of a kinstall run), written to the file named by
KINSTALL_CHECK_MODE_FILE."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: kinstall_check_mode
type: aggregate
short_description: record tasks check mode could not run, for kinstall's drift preview
description: Writes JSON lines to the file named by KINSTALL_CHECK_MODE_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kinstall_check_mode"
    CALLBACK_NEEDS_ENABLED = True
    MARKER = "kinstall stage: "  # installer.runner.events.MARKER; a callback plugin cannot import kinstall

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stage = ""

    def v2_playbook_on_play_start(self, play):
        name = play.get_name()
        if name.startswith(self.MARKER):
            self.stage = name[len(self.MARKER):]

    def v2_runner_on_skipped(self, result):
        path = os.environ.get("KINSTALL_CHECK_MODE_FILE")
        outcome = result._result
        if not path or "skip_reason" in outcome:
            return
        task = result._task
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        line = {"stage": self.stage, "host": result._host.get_name(), "task": task.get_name(), "role": role,
                "action": task.action, "msg": str(outcome.get("msg", ""))}
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
