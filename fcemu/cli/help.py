"""The help pages of the ``fcemu`` commands: each command's description paragraph.

:data:`DESCRIPTIONS` gives every subcommand the paragraph its ``--help`` page opens
with (the one-line summary in ``fcemu --help`` is the ``help=`` of its parser, in
:mod:`fcemu.cli.parser`). ``tests/cli/test_cli_help.py`` checks that every command has
one, and that every option and argument has help text.
"""

from __future__ import annotations

__all__ = ["DESCRIPTIONS"]

DESCRIPTIONS: dict[str, str] = {
    "serve": "Run an emulator of Function Compute 3.0 (the FC API under /2023-03-30), its "
             "SMQ (MNS) queues and topics, and the control API under /_fcemu, on "
             "127.0.0.1:9000 until Ctrl-C or SIGTERM. The first line on standard output is "
             "the ready line with the URL (`--port 0` picks a free port); the last is "
             "`fcemu stopped`. Settings come from the defaults, then the --config files, "
             "then these options. With `--clock manual` time moves only when told "
             "(`fcemu clock advance`, `fcemu drain`), for deterministic tests.",
    "functions": "List the deployed functions (ListFunctions) with their async invoke "
                 "configs (ListAsyncInvokeConfigs): runtime, handler, timeout, memory, "
                 "task mode, retries and destinations (the whole documents with --json).",
    "tasks": "List async tasks, newest first. With FUNCTION: that function's tasks "
             "(ListAsyncTasks; without asyncTask: true, which FC's task APIs need, through "
             "the control API). Without: every function's retained tasks, task mode on or "
             "off, through the control API (GET /_fcemu/tasks), with a FUNCTION column. "
             "--limit caps the list (default 20), --all fetches every page.",
    "task": "Show one async task (GetAsyncTask; without asyncTask: true, through the control "
            "API): its status, times, retries, destination status, error, payload and "
            "result, then its event timeline.",
    "stop": "Stop an async task (StopAsyncTask) and show its status: a waiting task stops "
            "at once, a running one goes through Stopping. A task that has ended is a 412 "
            "error (exit 1).",
    "invoke": "Invoke a function (InvokeFunction). Synchronously by default: print what "
              "the handler returned (exit 1 when it failed). With --async: print the "
              "accepted task; with --wait, follow it to its end.",
    "queue": "Show the messages of an SMQ queue without consuming them (a peek through "
             "the control API); --receive receives and deletes them through the SMQ API "
             "(BatchReceiveMessage); --purge deletes every visible one.",
    "queues": "List the SMQ queues with their numbers of live messages.",
    "clock": "Show the emulator clock (real or manual, and its time); `advance DURATION` "
             "or `set TIME` move a manual clock, running every timer that falls due on "
             "the way (delays, retries, handler timeouts), in order. Moving time needs "
             "`fcemu serve --clock manual`.",
    "settle": "Wait until nothing is runnable at the current emulator time (what is due "
              "has run and its results are delivered). Works on either clock.",
    "drain": "On a manual clock: run every async task to its end, moving the clock from "
             "timer to timer (delays and retry backoffs); print the time it ended at. "
             "Periodic trigger fires are not task work: those after that stay on the clock. "
             "--until TIME first runs everything due up to TIME (a week of nightly timers).",
    "triggers": "List the triggers (every function's, or FUNCTION's): type, qualifier, a "
                "timer's schedule and next fire on the emulator clock, an HTTP trigger's "
                "URL, another type's source ARN (GET /_fcemu/triggers).",
    "reset": "Forget every function, config, task, queue and topic; a manual clock goes "
             "back to its start, and generated IDs to their seed. The --config files of "
             "`fcemu serve` are deployed again.",
    "snapshot": "Snapshots of the emulator's whole state (functions with their code, "
                "configs, versions, triggers, tasks with their timers, queues and messages, "
                "the clock and the ID streams): `save [NAME]` keeps one in the emulator "
                "(--file PATH writes it to a file too), `restore NAME` or `restore --file "
                "PATH` puts one back (every handler instance ends, as at a reset; the next "
                "IDs are those that followed the snapshot), `list`, `delete NAME`.",
    "check": "Read deployment files (s.yaml, fcemu.yaml) as `fcemu serve --config` would, "
             "without serving: print what they deploy, or what is wrong, with its file, "
             "line and field (exit 2).",
    "config-schema": "Print the JSON Schema of fcemu.yaml, for editors and validators.",
}
