"""Config problems as one paragraph a user can act on: the key, and the nearest valid one.

Hydra checks every override against the schemas of :mod:`consistency.design.config` while composing;
what it raises (an OmegaConf key or validation error inside a composition error, a missing
option, an unparsable override) is translated here. Kept apart from the schemas so that the
schemas stay a plain list of settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from collections.abc import Mapping
from typing import Any, List

from omegaconf import DictConfig, OmegaConf

from consistency.common.errors import InputError


def describe(exc: BaseException, options: Mapping[str, Mapping[str, type]]) -> str | None:
    """One paragraph for a config that Hydra could not compose (misspelt key, wrong type,
    unknown option, unparsable override), naming the key and the nearest valid one; ``None``
    when ``exc`` is not such a problem (a bug keeps its traceback). ``options`` maps a group to
    its options' schemas (``{"model": {"local": LocalModel, ...}}``)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, \
        OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    cause = exc.__cause__ if isinstance(exc, ConfigCompositionException) else exc
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key:
        return _unknown_key(str(cause.full_key), cause.parent_node, options)
    if isinstance(cause, ValidationError) and cause.full_key:
        detail = str(cause.msg).splitlines()[0].rstrip(".")
        return (f"{cause.full_key}: {detail}; expected "
                f"{_expected(cause.parent_node, str(cause.key))}")
    if isinstance(exc, MissingConfigException):
        return _missing_option(str(exc))
    if isinstance(exc, OverrideParseException):
        return (f"cannot parse an override ({str(exc).splitlines()[0]}); overrides are key=value "
                "or group=option, e.g. model=openai model.temperature=0.7")
    if isinstance(exc, ConfigCompositionException):
        return str(exc).splitlines()[0]
    return None


def check_unknown_keys(cfg: DictConfig, options: Mapping[str, Mapping[str, type]]) -> None:
    """Keys added with ``+key=value`` that no schema declares (Hydra lets ``+`` through the
    schema): an :class:`InputError` naming the first, instead of a setting silently ignored."""
    for key in cfg:
        node = cfg._get_node(key)
        schema = OmegaConf.get_type(cfg)
        if dataclasses.is_dataclass(schema) and key not in _field_names(schema):
            raise InputError(_unknown_key(_join(cfg, str(key)), cfg, options))
        if isinstance(node, DictConfig) and dataclasses.is_dataclass(OmegaConf.get_type(node)):
            check_unknown_keys(node, options)


def _unknown_key(full_key: str, parent: Any, options: Mapping[str, Mapping[str, type]]) -> str:
    key = full_key.rsplit(".", 1)[-1]
    group = full_key.rsplit(".", 1)[0] if "." in full_key else None
    schema = OmegaConf.get_type(parent) if isinstance(parent, DictConfig) else None
    if isinstance(parent, DictConfig) and not dataclasses.is_dataclass(schema):
        # a mapping of the user's own keys (tasks.family_limits): name what it holds now and
        # how to add a key, not a schema it does not have
        present = [str(name) for name in parent.keys()]
        near = difflib.get_close_matches(key, present, n=1, cutoff=0.6)
        hint = f"did you mean {_prefix(group)}{near[0]}? " if near else ""
        return (f"{full_key}: unknown key; {hint}{group} holds "
                f"{', '.join(present) or 'nothing'}; add a key with +{full_key}=VALUE")
    known = _field_names(schema) if dataclasses.is_dataclass(schema) else []
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    owners = [f"{group}={name}" for name, other in options.get(group or "", {}).items()
              if key in _field_names(other)]
    if near:
        hint = f"did you mean {_prefix(group)}{near[0]}?"
    elif owners:
        hint = f"it is a key of {' and '.join(owners)} only."
    else:
        elsewhere = _close_anywhere(key, full_key, parent)
        hint = f"did you mean {elsewhere}?" if elsewhere else "it is not a setting."
    where = f"{group} ({schema.__name__})" if group and schema else "the root config"
    return (f"{full_key}: unknown key; {hint} The keys of {where} are {', '.join(known)} "
            "(`consistency run --cfg job` prints them with their values)")


def _close_anywhere(key: str, full_key: str, node: Any) -> str | None:
    """The dotted key, anywhere in the config, whose last part is closest to ``key``."""
    root = node._get_root() if isinstance(node, DictConfig) else None
    if root is None:
        return None
    leaves = {}
    for group, section in root.items_ex(resolve=False):
        if isinstance(section, DictConfig):
            leaves.update({name: f"{group}.{name}" for name in section.keys()
                           if f"{group}.{name}" != full_key})
        elif group != full_key:
            leaves[str(group)] = str(group)
    near = difflib.get_close_matches(key, list(leaves), n=1, cutoff=0.75)
    return leaves[near[0]] if near else None


def _expected(parent: Any, key: str) -> str:
    schema = OmegaConf.get_type(parent) if isinstance(parent, DictConfig) else None
    if not dataclasses.is_dataclass(schema):
        return "a value of the right type"
    hint = typing.get_type_hints(schema).get(key)
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    optional = len(args) < len(typing.get_args(hint))
    base = args[0] if optional and args else hint
    name = {int: "a whole number", float: "a number", bool: "true or false",
            str: "a string"}.get(base)
    if name is None:
        name = "a list such as [a,b]" if typing.get_origin(base) in (list, List) else str(base)
    return f"{name}{' or null' if optional else ''}"


def _missing_option(text: str) -> str:
    found = re.search(r"Could not find '([^']+)/([^']+)'", text)
    options = re.findall(r"^\t(\S+)$", text.split("Config search path")[0], flags=re.M)
    if not found:
        return text.splitlines()[0]
    group, option = found.groups()
    near = difflib.get_close_matches(option, options, n=1, cutoff=0.5)
    hint = f"did you mean {group}={near[0]}? " if near else ""
    return (f"{group}={option}: no such option; {hint}the options of {group} are "
            f"{', '.join(options)}")


def _field_names(schema: Any) -> list[str]:
    return [item.name for item in dataclasses.fields(schema)]


def _join(cfg: DictConfig, key: str) -> str:
    parent = cfg._get_full_key(None) if cfg._get_parent() is not None else ""
    return f"{parent}.{key}" if parent else key


def _prefix(group: str | None) -> str:
    return f"{group}." if group else ""
