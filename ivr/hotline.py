"""The IVR inside the Hotline server: the FastAGI server's hooks into the center.

:func:`ivr_server` builds the :class:`ivr.server.IvrServer` of a
:class:`cti.center.server.HotlineServer` when the configuration has an ``[ivr]`` section:
the flow's outcome and the survey's score go to the (pure) center, whose effects the
server carries out as for any PBX event; known callers are looked up in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivr.agi import AgiEnvironment
from ivr.engine import Outcome
from ivr.flows import SurveyConfig
from ivr.server import CustomerInfo, IvrServer, customer_info

if TYPE_CHECKING:
    from cti.center.server import HotlineServer

__all__ = ["ivr_server"]


def ivr_server(hotline: HotlineServer) -> IvrServer | None:
    ivr = hotline.config.ivr
    if ivr is None:
        return None

    def on_outcome(env: AgiEnvironment, outcome: Outcome) -> None:
        did = env.args[0] if env.args else None
        effects = hotline.center.ivr_outcome(
            env.channel, env.uniqueid, did, outcome, hotline.clock()
        )
        hotline.run_effects(effects)

    async def lookup(number: str) -> CustomerInfo | None:
        return customer_info(await hotline.store.find_customer_by_phone(number))

    def survey_for(env: AgiEnvironment) -> SurveyConfig | None:
        survey = ivr.survey
        if survey is None:
            return None
        queue = hotline.center.survey_queue(env.channel)
        return survey if queue is not None and queue in survey.queues else None

    def on_survey(env: AgiEnvironment, score: int | None) -> None:
        hotline.run_effects(hotline.center.survey_scored(env.channel, score))

    def on_callback(env: AgiEnvironment) -> bool:
        accepted, effects = hotline.center.request_callback(env.channel, hotline.clock())
        hotline.run_effects(effects)
        return accepted

    return IvrServer(
        ivr,
        on_outcome=on_outcome,
        lookup=lookup,
        survey_for=survey_for,
        on_survey=on_survey,
        on_callback=on_callback,
    )
