"""features.conf [applicationmap] as pbx_sim reads it (pbx_sim/features.py)."""

from __future__ import annotations

import pytest

from pbx_sim.config import hotline_config, load_config
from pbx_sim.confparse import ConfError
from pbx_sim.features import DynamicFeature, parse_feature


def test_the_generated_features_conf_gives_the_on_demand_recording_feature() -> None:
    cfg = hotline_config()
    assert cfg.applicationmap == {
        "hotline-record-now": DynamicFeature("hotline-record-now", "D", "hotline-record-now")
    }
    assert cfg.features["atxfer"] == "*2"  # the [featuremap] of the same file


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("D,peer,Gosub(x,s,1)", "runs 'self' only"),
        ("D,self,Playback(beep)", "runs Gosub(context,s,1) only; found 'Playback(beep)'"),
        ("D,self,Gosub(x,start,1)", "Gosub(context,s,1) only"),
        ("D", "expected code,self,app"),
    ],
)
def test_what_pbx_sim_cannot_run_is_refused_with_the_entry_named(value: str, expected: str) -> None:
    with pytest.raises(ConfError, match=r"\[applicationmap\] rec: ") as caught:
        parse_feature("rec", value)
    assert expected in str(caught.value)


def test_an_applicationmap_in_a_lab_directory_is_read() -> None:
    cfg = load_config(
        "/nonexistent",
        files={"features.conf": "[applicationmap]\nrec => *9,self/callee,Gosub(rec-now,s,1)\n"},
    )
    assert cfg.applicationmap["rec"] == DynamicFeature("rec", "*9", "rec-now")
