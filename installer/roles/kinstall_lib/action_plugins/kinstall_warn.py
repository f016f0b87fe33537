"""kinstall_warn: a warning for the user, shown by `kinstall up` with its host, stage and task and
kept in the run record. Runs on the controller: no module is sent to the host."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

DOCUMENTATION = """
module: kinstall_warn
short_description: warn the user of kinstall about a host, without failing
options:
  msg:
    description: one message, or a list of them; an empty list warns of nothing
    required: true
    type: raw
"""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        messages = self._task.args.get("msg")
        if messages is None:
            return {**result, "failed": True, "msg": "kinstall_warn needs msg"}
        if isinstance(messages, str):
            messages = [messages]
        texts = [str(m) for m in messages if str(m).strip()]
        result.update(changed=False, msg="; ".join(texts))
        if texts:
            result["warnings"] = texts
        return result
