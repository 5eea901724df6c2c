"""Dynamic features (features.conf ``[applicationmap]``) on bridged channels.

Asterisk: a channel whose ``DYNAMIC_FEATURES`` (names joined by ``#``) names an
``[applicationmap]`` entry ``name => code,self,Gosub(context,s,1)`` runs that routine
on itself when the bridge reads the entry's DTMF code from it — a key from its phone or
one queued by AMI ``PlayDTMF`` with ``Receive``. The channel stays in its bridge.
Hotline's on-demand recording is such a feature (``hotline-record-now``,
docs/recording.md).

pbx_sim implements what that needs: ``self`` features whose application is ``Gosub``,
codes matched digit by digit (a digit that continues no code ends the attempt and goes
on as usual). Not simulated: ``peer`` features, other applications (refused when the
configuration is loaded), Asterisk's ``featuredigittimeout`` and the replay of the
digits of a failed attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .channels import Channel
from .confparse import ConfError

if TYPE_CHECKING:
    from .world import World

__all__ = ["DynamicFeature", "on_bridge_dtmf", "parse_feature"]

_GOSUB = re.compile(r"^gosub\((?P<context>[^,()]+),(?P<exten>[^,()]+),(?P<prio>\d+)\)$", re.I)
_DIGITS_KEY = "feature_digits"  # chan.data: the digits of a code being matched


@dataclass(frozen=True, slots=True)
class DynamicFeature:
    name: str
    code: str
    context: str  # the Gosub routine's context (it starts at s,1)


def parse_feature(name: str, value: str) -> DynamicFeature:
    """One ``[applicationmap]`` line, or ConfError naming what pbx_sim cannot run."""
    code, activate_on, app = (part.strip() for part in [*value.split(",", 2), "", ""][:3])
    if not code or not app:
        raise ConfError(f"features.conf [applicationmap] {name}: expected code,self,app")
    if activate_on.split("/")[0].lower() != "self":
        raise ConfError(f"features.conf [applicationmap] {name}: pbx_sim runs 'self' only")
    m = _GOSUB.match(app)
    if m is None or m["exten"].strip() != "s" or m["prio"] != "1":
        raise ConfError(
            f"features.conf [applicationmap] {name}: pbx_sim runs Gosub(context,s,1) only; "
            f"found {app!r}"
        )
    return DynamicFeature(name, code, m["context"].strip())


def on_bridge_dtmf(world: World, chan: Channel, digit: str) -> bool:
    """A digit read from bridged ``chan``: True when it belongs to a dynamic feature's
    code (then the bridge does not pass it on)."""
    names = chan.variables.get("DYNAMIC_FEATURES", "")
    features = [
        world.config.applicationmap[n] for n in names.split("#") if n in world.config.applicationmap
    ]
    if not features:
        return False
    from .gosub import run_gosub  # noqa: PLC0415  (gosub -> functions -> config -> here)

    so_far = chan.data.pop(_DIGITS_KEY, "") + digit
    for feature in features:
        if feature.code == so_far:
            world.set_var(chan, "DYNAMIC_FEATURENAME", feature.name)
            world.start_task(run_gosub(world, chan, feature.context, []), None, feature.name)
            return True
    if any(f.code.startswith(so_far) for f in features):
        chan.data[_DIGITS_KEY] = so_far
        return True
    return False
