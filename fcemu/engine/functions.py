"""The engine's function operations: CreateFunction, GetFunction, ListFunctions,
UpdateFunction and DeleteFunction, with the function lookups every other operation uses.

A mixin of :class:`fcemu.engine.Engine` (kept apart so that the engine module stays
readable); the engine owns the state declared below. Creates and updates take a
:class:`~fcemu.specs.FunctionSpec` (checked as it was built). A create or an update is
checked in full and its code unpacked into a package of its own (on a worker thread
in the ``*_async`` variants, which the API uses) before anything is applied; then it
is applied at once. A refused one changes nothing and leaves no package behind.
A function's old code directory is removed once its instances are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu.code import CodeStore, Package
from fcemu.errors import (
    FunctionAlreadyExists,
    FunctionNotEmpty,
    FunctionNotFound,
    InvalidArgument,
    PreconditionFailed,
)
from fcemu.models import AsyncConfig, ConcurrencyConfig, Function
from fcemu.specs import FunctionSpec

if TYPE_CHECKING:
    from fcemu.clock import ManualClock, RealClock
    from fcemu.engine.control import Runner
    from fcemu.faults import Faults
    from fcemu.ids import IdGenerator
    from fcemu.scheduler import Scheduler
    from fcemu.settings import Settings
    from fcemu.tasks import AsyncTasks


class FunctionOperations:
    """Function CRUD on the engine's state (see the module docstring)."""

    settings: Settings
    clock: RealClock | ManualClock
    ids: IdGenerator
    scheduler: Scheduler
    runtimes: Runner
    code: CodeStore
    faults: Faults
    tasks: AsyncTasks
    functions: dict[str, Function]
    async_configs: dict[tuple[str, str], AsyncConfig]
    concurrency: dict[str, ConcurrencyConfig]
    #: Qualifier checks and version bookkeeping: :mod:`fcemu.engine.versions`.
    _qualifier: Callable[[Function, str | None], str]
    _code_in_use: Callable[[Path], bool]
    _drop_versions: Callable[[str], None]
    _published: Callable[[Function, str], Function]
    #: The merge of a function's layers into its /opt: :mod:`fcemu.engine.layers`.
    merge_layers: Callable[[str, Any, str | None], Path | None]
    merge_layers_async: Callable[[str, Any, str | None], Coroutine[Any, Any, Path | None]]
    discard_layers: Callable[[Path | None], None]
    layer_sizes: Callable[[Any], dict[str, int]]

    def arn(self, function_name: str) -> str:
        s = self.settings
        return f"acs:fc:{s.region}:{s.account_id}:functions/{function_name}"

    def create_function(self, spec: FunctionSpec, handler: Callable[..., Any] | None = None,
                        *, package: Package | None = None,
                        opt_dir: Path | None = None) -> Function:
        """CreateFunction (with a Python callable as the handler, or ``spec.zip_file``).

        Everything is checked before anything changes. The code is unpacked, and the
        layers merged, on this thread unless ``package`` and ``opt_dir`` (from
        :meth:`create_function_async`) hold them already.
        """
        try:
            name = self._check_create(spec, handler)
            if spec.zip_file is not None and package is None:
                package = self.code.prepare(name, spec.zip_file)
            self._check_package(package)
            if opt_dir is None:
                opt_dir = self.merge_layers(name, spec.extra.get("layers"), spec.runtime)
        except BaseException:
            self.code.discard(package)
            self.discard_layers(opt_dir)
            raise
        now = self.clock.now_ms()
        function = Function(
            name=name, arn=self.arn(name), function_id=self.ids.function_id(),
            created_ms=now, modified_ms=now, inprocess_handler=handler,
            extra=dict(spec.extra), tags=[dict(t) for t in spec.tags or ()],
            **spec.values(),
        )
        if package is not None:
            _install(function, package)
        function.opt_dir = opt_dir
        function.layer_sizes = self.layer_sizes(spec.extra.get("layers"))
        self.functions[name] = function
        return function

    async def create_function_async(self, spec: FunctionSpec,
                                    handler: Callable[..., Any] | None = None) -> Function:
        """CreateFunction with the code unpacked on a worker thread (the loop keeps serving)."""
        name = self._check_create(spec, handler)
        package = None
        if spec.zip_file is not None:
            package = await self.code.prepare_async(name, spec.zip_file)
        try:
            opt_dir = await self.merge_layers_async(name, spec.extra.get("layers"),
                                                    spec.runtime)
        except BaseException:
            self.code.discard(package)
            raise
        return self.create_function(spec, handler, package=package, opt_dir=opt_dir)

    def _check_create(self, spec: FunctionSpec, handler: Callable[..., Any] | None) -> str:
        if spec.name is None:
            raise InvalidArgument("functionName is required")
        if spec.name in self.functions:
            raise FunctionAlreadyExists(spec.name)
        if spec.runtime is None:
            raise InvalidArgument("runtime is required, e.g. python3.10")
        if spec.handler is None:
            raise InvalidArgument("handler is required")
        if handler is None and spec.zip_file is None:
            raise InvalidArgument("code is required: send code.zipFile (a base64 zip holding "
                                  "your handler, e.g. index.py)")
        return spec.name

    def _check_package(self, package: Package | None) -> None:
        if package is not None and not self.code.owns(package):
            raise PreconditionFailed("the resource being modified has been changed: the "
                                     "emulator was reset while the code was unpacked")

    def get_function(self, name: str, qualifier: str | None = None) -> Function:
        """GetFunction: LATEST, or with a qualifier the version it names (an alias: the
        version it points at)."""
        function = self._function(name)
        return self._published(function, self._qualifier(function, qualifier))

    def list_functions(self, prefix: str = "", limit: int = 20, next_token: str = "",
                       match: Callable[[Function], bool] | None = None
                       ) -> tuple[list[Function], str]:
        """ListFunctions; ``match``: ListFunctions' other filters
        (:meth:`fcemu.engine.resources.ResourceOperations.function_filter`)."""
        names = sorted(n for n in self.functions if n.startswith(prefix) and n >= next_token
                       and (match is None or match(self.functions[n])))
        page = names[:limit]
        return [self.functions[n] for n in page], names[limit] if len(names) > limit else ""

    def update_function(self, name: str, spec: FunctionSpec, *,
                        package: Package | None = None,
                        opt_dir: Path | None = None) -> Function:
        """UpdateFunction: what ``spec`` gives is applied at once, after the code is
        unpacked and the layers (when ``spec`` names them) merged; a refused update
        changes nothing (``spec.name`` and ``tags`` are not changed by an update)."""
        try:
            function = self._function(name)
            if spec.zip_file is not None and package is None:
                package = self.code.prepare(name, spec.zip_file)
            self._check_package(package)
            if opt_dir is None and "layers" in spec.extra:
                opt_dir = self.merge_layers(name, spec.extra["layers"],
                                            spec.runtime or function.runtime)
        except BaseException:
            self.code.discard(package)
            self.discard_layers(opt_dir)
            raise
        from fcemu.runtime.worker import function_changed  # as lazy as its runtime's

        function_changed()  # the pool keys kept for function objects go (issue 13)
        for attr, value in spec.values().items():
            setattr(function, attr, value)
        function.extra.update(spec.extra)
        old_code = old_opt = None
        if package is not None:
            old_code = function.code_dir
            _install(function, package)
        if "layers" in spec.extra:
            old_opt, function.opt_dir = function.opt_dir, opt_dir
            function.layer_sizes = self.layer_sizes(spec.extra["layers"])
        function.modified_ms = self.clock.now_ms()
        # new code or config: warm instances must not serve the old one
        self.scheduler.spawn(self._retire(name, old_code, old_opt), name=f"discard {name}")
        return function

    async def update_function_async(self, name: str, spec: FunctionSpec) -> Function:
        """UpdateFunction with the code unpacked on a worker thread."""
        function = self._function(name)
        package = opt_dir = None
        if spec.zip_file is not None:
            package = await self.code.prepare_async(name, spec.zip_file)
        if "layers" in spec.extra:
            try:
                opt_dir = await self.merge_layers_async(name, spec.extra["layers"],
                                                        spec.runtime or function.runtime)
            except BaseException:
                self.code.discard(package)
                raise
        return self.update_function(name, spec, package=package, opt_dir=opt_dir)

    def delete_function(self, name: str) -> None:
        function = self._function(name)
        triggers = getattr(self, "triggers", {}).get(name)
        if triggers:
            raise FunctionNotEmpty(name, sorted(triggers))
        del self.functions[name]
        for key in [k for k in self.async_configs if k[0] == name]:
            del self.async_configs[key]
        self.concurrency.pop(name, None)
        self.faults.drop_function(name)
        self.tasks.drop_function(name)
        self._drop_versions(name)
        self.scheduler.spawn(self._retire(name, function.code_dir, function.opt_dir),
                             name=f"discard {name}")

    async def _retire(self, name: str, old_code: Path | None,
                      old_opt: Path | None = None) -> None:
        """Kill the function's instances, then remove the code directory they ran from:
        nothing can use it any more (a new instance starts from the function's new code,
        or not at all once it is deleted), unless a published version still runs from it."""
        await self.runtimes.discard(name)
        if old_code is not None and not self._code_in_use(old_code):
            await self.code.remove(old_code)
        if old_opt is not None and not self._code_in_use(old_opt):
            await self.code.remove(old_opt)  # the function's merged layers (its /opt)

    def _function(self, name: str) -> Function:
        function = self.functions.get(name)
        if function is None:
            raise FunctionNotFound(name)
        return function


def _install(function: Function, package: Package) -> None:
    function.code_dir, function.code_size = package.path, package.size
    function.code_checksum = package.checksum
