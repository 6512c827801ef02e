"""Layered training configs (OmegaConf): package defaults <- method defaults <- experiment YAML <- CLI.

The package defaults (``configs/defaults.yaml``) and the method's defaults define the schema: the
keys that exist and the type of each value. An experiment YAML and ``key=value`` overrides may
only set existing keys; an unknown key is an error naming it, the valid keys at that level and
close matches, and a value of another type is an error naming the key, the expected type and the
value. Integers are accepted where a float is expected; ``null`` defaults accept any value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from corrviz.core.errors import CorrvizError, suggest

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULTS_FILE = CONFIG_DIR / "defaults.yaml"


class ConfigError(CorrvizError, ValueError):
    """A training config names an unknown key, has a value of the wrong type, or is unreadable."""


def _omegaconf():
    try:
        from omegaconf import OmegaConf
    except ImportError:  # pragma: no cover - a dependency in pyproject
        raise ConfigError("corrviz-train needs omegaconf (pip install omegaconf)") from None
    return OmegaConf


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML file as a plain dict; missing, unreadable or non-mapping files raise :class:`ConfigError`."""
    OmegaConf = _omegaconf()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file does not exist")
    try:
        conf = OmegaConf.load(p)
    except Exception as exc:  # noqa: BLE001 - yaml / omegaconf parse errors of any kind
        raise ConfigError(f"{p}: not a readable YAML config ({str(exc).splitlines()[0][:200]})") from None
    data = OmegaConf.to_container(conf, resolve=False)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config must be a mapping of keys to values, got {type(data).__name__}")
    return data


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["optim.lr=1e-4", "train.steps=10"]`` -> nested dict (values parsed as YAML)."""
    OmegaConf = _omegaconf()
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. optim.lr=1e-4)")
    try:
        conf = OmegaConf.from_dotlist(list(items))
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"command-line overrides: {str(exc).splitlines()[0][:200]}") from None
    return OmegaConf.to_container(conf, resolve=False) or {}


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__)


def _coerce(key: str, default: Any, value: Any, source: str) -> Any:
    """``value`` checked against the type of ``default`` (int -> float allowed)."""
    if default is None or value is None:
        return value
    bad = ConfigError(f"{source}: config key {key!r} expects a {_type_name(default)} "
                      f"(default {default!r}), got {_type_name(value)} {value!r}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad
        return value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise bad
        if default and all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in default):
            want = float if any(isinstance(d, float) for d in default) else int
            out = []
            for v in value:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or (want is int and not isinstance(v, int)):
                    raise ConfigError(f"{source}: config key {key!r} expects a list of {want.__name__}s, got {value!r}")
                out.append(want(v))
            return out
        return value
    if isinstance(default, dict):
        raise ConfigError(f"{source}: config key {key!r} is a section ({', '.join(default)}), "
                          f"not a value; set one of its keys, e.g. {key}.{next(iter(default), 'x')}=...")
    return value


def check_layer(base: Mapping[str, Any], layer: Mapping[str, Any], source: str, prefix: str = "") -> dict[str, Any]:
    """Validate ``layer`` against the schema ``base`` (unknown keys, types); returns the coerced layer."""
    out: dict[str, Any] = {}
    for key, value in layer.items():
        full = f"{prefix}{key}"
        if key not in base:
            valid = sorted(base)
            where = f"under {prefix[:-1]!r}" if prefix else "at the top level"
            raise ConfigError(f"{source}: unknown config key {full!r}.{suggest(str(key), valid)} "
                              f"Valid keys {where}: {', '.join(valid)}")
        default = base[key]
        if isinstance(default, dict) and default:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: config key {full!r} is a section ({', '.join(default)}), "
                                  f"got {_type_name(value)} {value!r}")
            out[key] = check_layer(default, value, source, f"{full}.")
        else:
            out[key] = _coerce(full, default, value, source)
    return out


def _merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def package_defaults() -> dict[str, Any]:
    return load_yaml(DEFAULTS_FILE)


def compose(method: str, method_defaults: Mapping[str, Any], experiment: str | os.PathLike | None = None,
            overrides: Sequence[str] = ()) -> Any:
    """The resolved config (an OmegaConf ``DictConfig``) of a training run.

    Method defaults may add keys (they extend the schema) and change the package defaults' values
    (types are checked there too); the experiment file and the overrides may only set existing keys.
    """
    OmegaConf = _omegaconf()
    schema = package_defaults()
    for key, value in method_defaults.items():  # method defaults: new keys allowed, known keys typed
        if key in schema and isinstance(schema[key], dict) and isinstance(value, dict):
            known = {k: v for k, v in value.items() if k in schema[key]}
            check_layer(schema[key], known, f"method {method!r} defaults", f"{key}.")
    merged = _merge(schema, dict(method_defaults))
    merged["method"] = method
    if experiment is not None:
        layer = load_yaml(experiment)
        stated = layer.get("method")
        if stated not in (None, "", method):
            raise ConfigError(f"{experiment}: this config is for method {stated!r}, not {method!r}")
        merged = _merge(merged, check_layer(merged, layer, str(experiment)))
        merged["method"] = method
    if overrides:
        layer = parse_overrides(overrides)
        if "method" in layer and layer["method"] != method:
            raise ConfigError(f"command line: method is given as the first argument ({method!r}), not as an override")
        merged = _merge(merged, check_layer(merged, layer, "command line"))
    conf = OmegaConf.create(merged)
    OmegaConf.set_struct(conf, True)  # a typo'd key read later raises instead of returning None
    return conf


def to_dict(conf: Any) -> dict[str, Any]:
    """A resolved config as a plain dict (for JSON headers)."""
    OmegaConf = _omegaconf()
    if isinstance(conf, dict):
        return conf
    return OmegaConf.to_container(conf, resolve=True)


def to_yaml(conf: Any) -> str:
    OmegaConf = _omegaconf()
    return OmegaConf.to_yaml(conf if not isinstance(conf, dict) else OmegaConf.create(conf))
