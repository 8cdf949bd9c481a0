"""What a handler process finds in its environment: FC's variables, never the server's.

A worker or custom-runtime instance starts with an environment built from
scratch, in this order (later wins):

1. the few variables an interpreter or a shell needs, copied from the
   server's environment when set there (:data:`BASE_VARIABLES`);
2. the variables the user lets through with ``--pass-env NAME``
   (``Settings.pass_env``, ``settings.passEnv`` in fcemu.yaml);
3. the function's ``environmentVariables``;
4. FC's documented system variables (``FC_FUNCTION_NAME``,
   ``FC_FUNCTION_HANDLER``, ``FC_FUNCTION_MEMORY_SIZE``, ``FC_REGION``,
   ``FC_ACCOUNT_ID``, ``FC_INSTANCE_ID``, ``FC_FUNC_CODE_PATH``, the
   ``ALIBABA_CLOUD_*`` credentials; ``FC_SERVER_PORT`` and
   ``FC_CUSTOM_LISTEN_PORT`` for custom runtimes) and the runtime's own
   (``FC_TIMEOUT``, ``FC_RUNTIME``);
5. the instance's function version (:func:`version_variable`): ``FC_FUNCTION_VERSION``
   in runtimes built on Debian 11 or later, ``FC_VER_ID`` in the older ones (FC's
   "Configure environment variables" page); ``0`` for LATEST, the version FC's
   InstanceInfo gives an instance of LATEST.

Anything else of the server's (``FCEMU_ACCESS_KEY``, cloud credentials,
tokens of the user's shell) stays out. ``PYTHONPATH`` and the like are the
function's business: set them in ``environmentVariables``. Handlers that run
in-process share the server's environment; they cannot be isolated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fcemu.runtime.invocation import Invocation

#: Server variables every handler gets (when set): what interpreters and shells need to run
#: (the command search path, the home and temporary directories, user name, locale, zone).
BASE_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
                  "TMPDIR")
#: Runtimes FC builds on Debian 11 or later (FC's runtime tables: python3.12 and
#: custom.debian11/12; every Node.js runtime, python3.9/3.10 and custom/custom.debian10 are
#: Debian 9 or 10); later Python versions and Debian images are taken to be as new.
_DEBIAN_11_ON = re.compile(r"^(python3\.(1[2-9]|[2-9]\d)|custom\.debian(1[1-9]|[2-9]\d))$")
#: The version of an instance of LATEST (FC's InstanceInfo.versionId: "0" for LATEST).
LATEST_VERSION = "0"


def version_variable(runtime: str) -> str:
    """The variable that holds an instance's function version in ``runtime``:
    ``FC_FUNCTION_VERSION`` from Debian 11 on, ``FC_VER_ID`` before (FC's
    "Configure environment variables" page)."""
    return "FC_FUNCTION_VERSION" if _DEBIAN_11_ON.match(runtime) else "FC_VER_ID"


def handler_environment(invocation: Invocation, instance_id: str,
                        pass_env: Iterable[str] = (),
                        server_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of one instance's processes (see the module docstring)."""
    server = os.environ if server_env is None else server_env
    function, credentials = invocation.function, invocation.credentials
    env = {name: server[name] for name in (*BASE_VARIABLES, *pass_env) if name in server}
    env.update(function.environment_variables)
    env.update({
        "FC_FUNCTION_NAME": function.name,
        "FC_FUNCTION_HANDLER": function.handler,
        "FC_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "FC_TIMEOUT": str(function.timeout),
        "FC_RUNTIME": function.runtime,
        "FC_REGION": invocation.region,
        "FC_ACCOUNT_ID": invocation.account_id,
        "FC_INSTANCE_ID": instance_id,
        "FC_FUNC_CODE_PATH": str(function.code_dir),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
        "ALIBABA_CLOUD_SECURITY_TOKEN": credentials.security_token,
        version_variable(function.runtime): function.version_id or LATEST_VERSION,
    })
    return env
