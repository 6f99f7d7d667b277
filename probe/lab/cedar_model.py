"""The lab's view of AgentCore's Cedar model: the product's `probe.cedar.model`, re-exported.

The lab keeps no copy of the model; this module only keeps older imports working.
"""

from probe.cedar.model import (
    ACTION,
    GATEWAY,
    IAM_ENTITY,
    OAUTH_USER,
    CedarDecision,
    Principal,
    authorize_call,
    could_permit,
)

__all__ = ["ACTION", "GATEWAY", "IAM_ENTITY", "OAUTH_USER", "CedarDecision", "Principal", "authorize_call",
           "could_permit"]
