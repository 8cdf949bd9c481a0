"""Deployment files read as YAML that remembers where every value came from.

:func:`load_yaml` keeps the file and line of every mapping key and list item
(:class:`MarkedDict`, :class:`MarkedList`), so that any problem found later
can be reported as ``file:line: field: what is wrong``: a :class:`ConfigError`,
or :class:`ConfigErrors` when there are several (every one is reported, not the first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

from fcemu.config.dialect import CORE_RESOLVERS, construct_int, restore_tabs, untab

__all__ = ["ConfigError", "ConfigErrors", "MarkedDict", "MarkedList", "Where", "load_yaml",
           "marked_dict", "template_errors"]


@dataclass(frozen=True)
class Where:
    """A place in a deployment file: path and 1-based line."""

    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


class ConfigError(ValueError):
    """A deployment file is wrong; the message names the file, the line and the field.

    :param where: file and line, or None when the problem is not tied to a line.
    :param field: dotted path of the field (``functions.job.timeout``), or "".
    :param message: what is wrong and, where possible, what to write instead.
    """

    def __init__(self, where: Where | Path | None, field: str, message: str) -> None:
        self.where, self.field, self.message = where, field, message
        place = f"{where}: " if where is not None else ""
        super().__init__(f"{place}{field + ': ' if field else ''}{message}")


class ConfigErrors(ConfigError):
    """Several problems in deployment files, all of them: :attr:`errors`, in order; the
    message lists each on its own line. :attr:`where`, :attr:`field` and :attr:`message`
    are the first one's."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        first = errors[0]
        self.where, self.field, self.message = first.where, first.field, first.message
        ValueError.__init__(self, f"{len(errors)} errors in the deployment files:\n"
                            + "\n".join(f"  {error}" for error in errors))

    @staticmethod
    def each(error: ConfigError) -> list[ConfigError]:
        """The single problems an error holds."""
        return list(error.errors) if isinstance(error, ConfigErrors) else [error]

    @staticmethod
    def of(errors: list[ConfigError]) -> ConfigError | None:
        """None for no problem, the problem itself for one, else a :class:`ConfigErrors`
        in file and line order (repeats dropped: a field checked twice is reported once)."""
        flat = [single for error in errors for single in ConfigErrors.each(error)]
        unique = list({str(error): error for error in flat}.values())
        if not unique:
            return None
        files: dict[str, int] = {}
        for error in unique:
            files.setdefault(str(_path_of(error.where)), len(files))
        unique.sort(key=lambda error: (files[str(_path_of(error.where))],
                                       error.where.line if isinstance(error.where, Where) else 0))
        return unique[0] if len(unique) == 1 else ConfigErrors(unique)


def _path_of(where: Where | Path | None) -> Path | None:
    return where.path if isinstance(where, Where) else where


class MarkedDict(dict[str, Any]):
    """A YAML mapping that remembers where it and each of its keys are."""

    where: Where
    key_where: dict[str, Where]

    def at(self, key: str) -> Where:
        """Where ``key`` is written, or where the mapping starts when it is absent."""
        return self.key_where.get(key, self.where)


class MarkedList(list[Any]):
    """A YAML sequence that remembers where it and each of its items are."""

    where: Where
    item_where: list[Where]

    def at(self, index: int) -> Where:
        return self.item_where[index] if index < len(self.item_where) else self.where


def marked_dict(where: Where, items: dict[str, Any] | None = None,
                key_where: dict[str, Where] | None = None) -> MarkedDict:
    """A new :class:`MarkedDict` (used when values are rebuilt: merges, references)."""
    result = MarkedDict(items or {})
    result.where = where
    result.key_where = dict(key_where or {})
    return result


class _Loader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """PyYAML reading js-yaml's dialect (:mod:`fcemu.config.dialect`)."""

    path: Path

    def construct_scalar(self, node: yaml.ScalarNode) -> Any:
        return restore_tabs(super().construct_scalar(node))


_Loader.yaml_implicit_resolvers = CORE_RESOLVERS
_Loader.add_constructor("tag:yaml.org,2002:int",
                        lambda loader, node: construct_int(loader.construct_scalar(node)))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict | str:
    if (name := _unquoted_placeholder(node)) is not None:
        return "{{ " + name + " }}"  # an `s init` template's {{ name }}, unquoted
    loader.flatten_mapping(node)
    result = marked_dict(Where(loader.path, node.start_mark.line + 1))
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        where = Where(loader.path, key_node.start_mark.line + 1)
        if not isinstance(key, str):
            # YAML 1.1 reads `on:`/`yes:`/`1:` as bool/int keys; every key we read is a name
            key = "true" if key is True else "false" if key is False else str(key)
        if key in result:
            raise ConfigError(where, key, f"duplicate key (first written on line "
                                          f"{result.key_where[key].line})")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_where[key] = where
    return result


def _unquoted_placeholder(node: yaml.MappingNode) -> str | None:
    """``name`` when ``node`` is ``{{ name }}`` written unquoted (a flow mapping whose only
    key is the flow mapping ``{name}``), else None."""
    if not node.flow_style or len(node.value) != 1:
        return None
    key, value = node.value[0]
    if not (isinstance(key, yaml.MappingNode) and key.flow_style and len(key.value) == 1
            and isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null")):
        return None
    inner_key, inner_value = key.value[0]
    if (isinstance(inner_key, yaml.ScalarNode) and isinstance(inner_value, yaml.ScalarNode)
            and inner_value.tag.endswith(":null")):
        return str(inner_key.value)
    return None


_TEMPLATE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


def template_errors(doc: Any, where: Where) -> list[ConfigError]:
    """One error per ``{{ name }}`` placeholder of an ``s init`` template left in ``doc`` (a
    parsed file), at the line that holds it. Placeholders only in ``environmentVariables``
    values are the application's own text (a Jinja or Go template), not a template file."""
    errors = _placeholders(doc, where, "")
    if all(".environmentVariables." in error.field for error in errors):
        return []
    return errors


def _placeholders(value: Any, where: Where, name: str) -> list[ConfigError]:
    if isinstance(value, MarkedDict):
        return [error for key, item in value.items()
                for error in [*_placeholders(key, value.at(key), name),
                              *_placeholders(item, value.at(key),
                                             f"{name}.{key}" if name else key)]]
    if isinstance(value, MarkedList):
        return [error for i, item in enumerate(value)
                for error in _placeholders(item, value.at(i), f"{name}[{i}]")]
    if not isinstance(value, str):
        return []
    return [ConfigError(where, name, f"this is a template: run `s init` or fill in "
                                     f"{{{{ {found} }}}}")
            for found in dict.fromkeys(_TEMPLATE.findall(value))]


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    result.where = Where(loader.path, node.start_mark.line + 1)
    result.item_where = [Where(loader.path, child.start_mark.line + 1) for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _indented_with_tab(text: str, line: int) -> bool:
    lines = text.split("\n")
    return line < len(lines) and "\t" in lines[line][:len(lines[line]) -
                                                    len(lines[line].lstrip(" \t")) + 1]


def load_yaml(path: Path) -> Any:
    """Parse one YAML file; mappings become :class:`MarkedDict`, lists :class:`MarkedList`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the file: {exc.strerror or exc}") from None
    loader = _Loader(untab(text))
    loader.path = path
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Where(path, mark.line + 1) if mark is not None else path
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        if mark is not None and _indented_with_tab(text, mark.line):
            problem = "a tab in the indentation (YAML indents with spaces only)"
        raise ConfigError(where, "", f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
