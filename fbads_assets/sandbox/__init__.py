"""A local Marketing API: the Graph API wire dialect on loopback, with deterministic data.

The facebook-business SDK runs against it unchanged once ``FacebookSession.GRAPH`` is set to
``sandbox.base_url``. It is the test double of Meta's servers, which nothing here can reach.
See docs/sandbox.md.
"""

from fbads_assets.sandbox.config import API_VERSION, DEMO_TOKEN, SandboxConfig
from fbads_assets.sandbox.faults import FAULT_KINDS, FaultRule
from fbads_assets.sandbox.server import Sandbox, run_sandbox

__all__ = [
    "API_VERSION",
    "DEMO_TOKEN",
    "FAULT_KINDS",
    "FaultRule",
    "Sandbox",
    "SandboxConfig",
    "run_sandbox",
]
