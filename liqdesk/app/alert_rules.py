"""Alert rules: what each kind means, the fields it takes, and the TOML file they live in (no Qt).

A rules file is TOML, one ``[[rule]]`` table per rule (``resources/alerts/example.toml`` holds
one of each kind, documented). The user's own file is ``alerts.toml`` in liqdesk's config
folder (``$LIQDESK_CONFIG_DIR`` overrides it). Reading is strict: an unknown kind, an unknown or
misspelt field, a value of the wrong type or out of range is refused with one line naming the
rule and the field (:class:`RuleError`), so a typo never silently disables an alert.

Fields every rule has: ``name`` (unique, required), ``kind`` (required), ``enabled`` (true),
``symbol`` (``"all"`` or a market such as ``"BTC/USDT:USDT"`` or ``"BTCUSDT"``), ``venues``
(``"all"`` or a list of exchanges), ``cooldown_s`` (300: a rule fires at most once in that many
seconds of market time per symbol). The kinds and their own fields are in :data:`KINDS`; what
they mean exactly is in :mod:`liqdesk.app.alerts`.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from liqdesk.core.events import EXCHANGES
from liqdesk.errors import UserError

from .config_files import config_dir

RULES_FILE = "alerts.toml"
LOG_FILE = "alerts.log"

SIDES = ("long", "short", "both")
DIRECTIONS = ("up", "down", "both")

#: Per kind: its own fields (beyond the common ones) and their defaults (``None``: optional;
#: ``REQUIRED``: must be given).
REQUIRED = object()
KINDS: dict[str, dict[str, object]] = {
    "near_cluster": {"side": "both", "min_usd": REQUIRED, "within_pct": None, "within_price": None,
                     "band_pct": 5.0, "bin_usd": None, "price_low": None, "price_high": None},
    "new_cluster": {"side": "both", "min_usd": REQUIRED, "within_s": 60.0, "grow_pct": None,
                    "band_pct": 5.0, "bin_usd": None},
    "cluster_swept": {"side": "both", "min_usd": REQUIRED, "band_pct": 5.0, "bin_usd": None,
                      "feed_window_s": 60.0, "price_low": None, "price_high": None},
    "liquidation_burst": {"side": "both", "min_usd": REQUIRED, "within_s": 10.0},
    "asymmetry": {"band_pct": 3.0, "ratio": REQUIRED, "direction": "both"},
    "cascade_risk": {"side": "both", "min_clusters": 3, "within_pct": 3.0, "max_step_pct": 1.0,
                     "min_usd": 0.0, "bin_usd": None},
    "price_level": {"price": REQUIRED, "direction": "both"},
}
COMMON = ("name", "kind", "enabled", "symbol", "venues", "cooldown_s")

#: Longest look-back a rule may ask for (s): ``new_cluster`` keeps one level map per step for it.
MAX_WITHIN_S = 900.0


class RuleError(UserError):
    """A rules file that cannot be used; the message is one line naming the rule and field."""


@dataclass(frozen=True)
class Rule:
    """One alert rule. Money in quote currency (USD for USDT markets), prices in quote, times in
    s, percentages of the price (0.5 = 0.5 %)."""

    name: str
    kind: str
    enabled: bool = True
    symbol: str = "all"
    venues: tuple[str, ...] | None = None      # None = all
    cooldown_s: float = 300.0
    side: str = "both"
    min_usd: float = 0.0
    within_pct: float | None = None
    within_price: float | None = None
    within_s: float | None = None
    grow_pct: float | None = None
    band_pct: float = 5.0
    bin_usd: float | None = None
    feed_window_s: float = 60.0
    ratio: float | None = None
    direction: str = "both"
    min_clusters: int = 3
    max_step_pct: float = 1.0
    price: float | None = None
    price_low: float | None = None
    price_high: float | None = None
    #: the fields given in the file (written back as given; the rest are defaults)
    given: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def applies_to(self, symbol: str) -> bool:
        """True when the rule watches ``symbol`` (``"all"``, or the same market however spelt)."""
        return self.symbol.lower() == "all" or market_key(self.symbol) == market_key(symbol)

    def to_table(self) -> dict:
        """The rule as a TOML table: the common fields and those of its kind that differ from the
        kind's defaults or were given."""
        out: dict[str, object] = {"name": self.name, "kind": self.kind}
        if not self.enabled:
            out["enabled"] = False
        if self.symbol != "all":
            out["symbol"] = self.symbol
        if self.venues is not None:
            out["venues"] = list(self.venues)
        out["cooldown_s"] = self.cooldown_s
        for key, default in KINDS[self.kind].items():
            value = getattr(self, key)
            if value is None:
                continue
            if key in self.given or default is REQUIRED or value != default:
                out[key] = value
        return out


def market_key(symbol: str) -> str:
    """``BTC/USDT:USDT``, ``BTCUSDT``, ``btc-usdt-swap`` -> ``BTCUSDT`` (to compare markets)."""
    s = symbol.upper().split(":")[0].replace("-SWAP", "")
    return "".join(ch for ch in s if ch.isalnum())


def user_rules_path() -> Path:
    return config_dir() / RULES_FILE


def alert_log_path() -> Path:
    return config_dir() / LOG_FILE


def example_rules_path() -> Path:
    """The shipped example (one rule of each kind), ``alerts/example.toml`` among liqdesk's
    resources (:func:`liqdesk.core.resources.resource_path`)."""
    from liqdesk.core.resources import resource_path

    return resource_path("alerts", "example.toml")


# ---------------------------------------------------------------------------------- reading
def load_rules(path) -> list[Rule]:
    """The rules of a TOML file; :class:`RuleError` (one line) when it cannot be used."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RuleError(f"{p}: not a UTF-8 text file") from None
    except OSError as exc:
        raise RuleError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    return parse_rules(text, str(p))


def parse_rules(text: str, source: str = "rules") -> list[Rule]:
    """Rules from TOML text (``source`` names it in errors)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source}: not valid TOML: {' '.join(str(exc).split())}") from None
    extra = sorted(set(doc) - {"rule"})
    if extra:
        raise RuleError(f"{source}: unknown top-level key {extra[0]!r}; rules are [[rule]] tables")
    tables = doc.get("rule", [])
    if not isinstance(tables, list):
        raise RuleError(f"{source}: 'rule' must be an array of tables ([[rule]])")
    rules, names = [], set()
    for i, table in enumerate(tables, 1):
        rule = _rule(table, f"{source}: rule #{i}")
        if rule.name in names:
            raise RuleError(f"{source}: rule '{rule.name}' (#{i}), field 'name': another rule has that name")
        names.add(rule.name)
        rules.append(rule)
    return rules


def _rule(table: dict, where: str) -> Rule:
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{where}, field 'name': required, a non-empty string")
    where = f"{where.rsplit(': rule #', 1)[0]}: rule '{name}' (#{where.rsplit('#', 1)[1]})"

    def bad(key: str, why: str):
        return RuleError(f"{where}, field '{key}': {why}")

    kind = table.get("kind")
    if kind not in KINDS:
        raise bad("kind", f"{kind!r} is not a rule kind; expected one of {', '.join(KINDS)}")
    spec = KINDS[kind]
    unknown = [k for k in table if k not in COMMON and k not in spec]
    if unknown:
        raise bad(unknown[0], f"not a field of a {kind} rule (its fields: {', '.join(list(COMMON[2:]) + list(spec))})")
    values: dict[str, object] = {"name": name.strip(), "kind": kind}
    for key, default in spec.items():
        if default is REQUIRED and key not in table:
            raise bad(key, f"required for a {kind} rule")
    for key, raw in table.items():
        if key in ("name", "kind"):
            continue
        values[key] = _value(key, raw, bad)
    if kind == "near_cluster" and values.get("within_pct") is None and values.get("within_price") is None:
        values["within_pct"] = 0.5
    if kind == "near_cluster" and values.get("within_pct") is not None and values.get("within_price") is not None:
        raise bad("within_price", "give within_pct or within_price, not both")
    for key in ("within_s", "band_pct"):
        if key in spec and key not in values and spec[key] is not None:
            values[key] = spec[key]
    if values.get("within_s") is not None and values["within_s"] > MAX_WITHIN_S and kind == "new_cluster":
        raise bad("within_s", f"at most {MAX_WITHIN_S:g} s")
    lo, hi = values.get("price_low"), values.get("price_high")
    if lo is not None and hi is not None and not lo < hi:
        raise bad("price_high", "must be above price_low")
    if kind == "cascade_risk" and "within_pct" not in values:
        values["within_pct"] = spec["within_pct"]
    return Rule(**values, given=tuple(k for k in table if k not in ("name", "kind")))


def _number(key, raw, bad, positive=True, allow_zero=False) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise bad(key, f"must be a number, not {raw!r}")
    value = float(raw)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero and positive):
        raise bad(key, f"must be a number {'>= 0' if allow_zero else '> 0'}, not {raw!r}")
    return value


def _value(key: str, raw, bad):
    if key == "enabled":
        if not isinstance(raw, bool):
            raise bad(key, f"must be true or false, not {raw!r}")
        return raw
    if key == "symbol":
        if not isinstance(raw, str) or not raw.strip():
            raise bad(key, "must be \"all\" or a market such as \"BTC/USDT:USDT\"")
        return raw.strip()
    if key == "venues":
        if raw == "all":
            return None
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw):
            raise bad(key, "must be \"all\" or a list of exchanges such as [\"binance\", \"okx\"]")
        names = [v.strip().lower() for v in raw]
        unknown = [v for v in names if v not in EXCHANGES]
        if unknown:
            raise bad(key, f"unknown exchange {unknown[0]!r}; expected some of {', '.join(EXCHANGES)}")
        return tuple(dict.fromkeys(names))
    if key == "side":
        if raw not in SIDES:
            raise bad(key, f"must be one of {', '.join(SIDES)}, not {raw!r}")
        return raw
    if key == "direction":
        if raw not in DIRECTIONS:
            raise bad(key, f"must be one of {', '.join(DIRECTIONS)}, not {raw!r}")
        return raw
    if key == "min_clusters":
        if isinstance(raw, bool) or not isinstance(raw, int) or not 2 <= raw <= 50:
            raise bad(key, f"must be a whole number from 2 to 50, not {raw!r}")
        return raw
    if key in ("cooldown_s", "min_usd"):
        return _number(key, raw, bad, allow_zero=True)
    if key in ("band_pct", "within_pct"):
        value = _number(key, raw, bad)
        if value > 50:
            raise bad(key, f"must be at most 50 (%), not {raw!r}")
        return value
    return _number(key, raw, bad)


# ---------------------------------------------------------------------------------- writing
def dump_rules(rules: list[Rule]) -> str:
    """TOML text for ``rules`` (read back by :func:`parse_rules` to the same rules). Strings are
    written as JSON strings, which are valid TOML basic strings; the values are flat."""
    out = ["# liqdesk alert rules: see resources/alerts/example.toml for every kind and field", ""]
    for rule in rules:
        out.append("[[rule]]")
        for key, value in rule.to_table().items():
            out.append(f"{key} = {toml_value(value)}")
        out.append("")
    return "\n".join(out)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):_}"          # 2_000_000 rather than 2000000.0 (read back as the same)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def save_rules(rules: list[Rule], path) -> None:
    """Write ``rules`` to ``path`` atomically (a crash leaves the old file or the new one)."""
    from liqdesk.store.atomic import atomic_file

    with atomic_file(Path(path), overwrite=True) as tmp:
        tmp.write_text(dump_rules(rules), encoding="utf-8")


def with_changes(rule: Rule, **changes) -> Rule:
    """``rule`` with fields changed (they count as given, so they are written back)."""
    return replace(rule, **changes, given=tuple(dict.fromkeys(rule.given + tuple(changes))))


__all__ = ["KINDS", "Rule", "RuleError", "load_rules", "parse_rules", "dump_rules", "save_rules",
           "user_rules_path", "alert_log_path", "example_rules_path", "market_key", "fields"]
