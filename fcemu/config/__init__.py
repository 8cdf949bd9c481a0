"""Deployment files: Serverless Devs ``s.yaml`` (component ``fc3``) and ``fcemu.yaml``.

``fcemu serve --config s.yaml`` brings a project up as ``s deploy`` would. The
package's public surface; outer layers import from here:

- :mod:`fcemu.config.load`: :func:`load_settings` (emulator settings the files set,
  read before the server starts) and :func:`load` (read, check and merge the files
  into one :class:`Deployment`; later files override earlier ones, function by
  function and field by field);
- :mod:`fcemu.config.deploy`: :func:`apply_config` and :class:`Deployer` (the
  deployment, put into an engine through its public operations, at start and after
  every reset);
- :mod:`fcemu.config.watch`: :class:`Watcher` (``--watch``: redeploy what changed,
  keeping task records);
- :mod:`fcemu.config.deployment`: :class:`Deployment`, :class:`FunctionEntry` and
  :class:`Reporter` (warns about ignored props and empty placeholders, once);
- :mod:`fcemu.config.syaml` (``s.yaml`` and its ``${...}`` references),
  :mod:`fcemu.config.build` (one function's FC API documents),
  :mod:`fcemu.config.schema` (:data:`SCHEMA`, the JSON Schema of ``fcemu.yaml``),
  :mod:`fcemu.config.check` (validating against it) and :mod:`fcemu.config.marked`
  (YAML with line numbers, :class:`ConfigError`).

Imports go one way: ``watch`` → ``deploy`` → ``load`` → ``syaml``/``build`` →
``check`` → ``schema``/``marked``; the package sits above the engine and holds no
module-global state. Every problem is a :class:`ConfigError` naming the file, the
line and the field, and all of them are reported together (:class:`ConfigErrors`).
A function prop fcemu does not know is an error ("did you mean"); FC fields it knows
but does not model, and those a function lists in ``x-fcemu-allow-unknown``, are
accepted and reported once, as a warning.
"""

from __future__ import annotations

from fcemu.config.deploy import Deployer, apply_config, deploy, deploy_async
from fcemu.config.deployment import Deployment, FunctionEntry, Reporter
from fcemu.config.load import load, load_settings
from fcemu.config.marked import ConfigError, ConfigErrors, load_yaml
from fcemu.config.schema import SCHEMA
from fcemu.config.watch import Watcher, watch

__all__ = ["SCHEMA", "ConfigError", "ConfigErrors", "Deployer", "Deployment", "FunctionEntry",
           "Reporter", "Watcher", "apply_config", "deploy", "deploy_async", "load", "load_settings",
           "load_yaml", "watch"]
