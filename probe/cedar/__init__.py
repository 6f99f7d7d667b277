"""AgentCore Policy's Cedar, modelled once for the whole product.

`model` says what the gateway hands the policy engine (principal, action, resource,
`context.input` typed from the tool's schema) and decides with cedarpy; `schema`
generates the Cedar schema AgentCore derives from a gateway's tools and validates
policies against it; `explain` says which policy decided a request; `lint` flags
policies that can never do what they say. The lab and the probe's diagnosis both use
these modules, so the lab is an independent emulation of the gateway's transport but
shares this one reading of AgentCore's documented Cedar model.

cedarpy is an optional dependency (the `cedar` extra): importing this package costs
nothing, and `require_cedarpy()` turns a missing install into a one-line hint.
"""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = "pip install 'agentcore-probe[cedar]'"


class CedarUnavailable(RuntimeError):
    """cedarpy cannot be imported; the message is one line with the install hint."""


def require_cedarpy() -> ModuleType:
    """cedarpy, or a CedarUnavailable whose message says how to install it."""
    try:
        return importlib.import_module("cedarpy")
    except ImportError as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise CedarUnavailable(f"Cedar evaluation needs cedarpy, which cannot be imported ({detail}): "
                               f"{INSTALL_HINT}") from None
