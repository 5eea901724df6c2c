"""The demo call center's IVR (``hotline demo``): the ``[ivr]`` section that
:func:`cti.config.demo_config` adds with ``ivr=True``. config/hotline.toml has the same
flows with a comment on every key."""

from __future__ import annotations

from typing import Final

__all__ = ["DEMO_IVR_TOML"]

# The main menu behind 4000; the other numbers go straight to their queue, as before the
# IVR. Always open, so that demo callers reach agents at any hour; the closed branch is
# there to show its shape (and is tested with hours of its own).
DEMO_IVR_TOML: Final = """
[ivr]
entry = "open-check"
routes = { "4001" = "fault", "4002" = "complaint", "4003" = "inquiry" }
operator_queue = "general"
timezone = "Asia/Shanghai"
greeting_known = "welcome-back"
vip_priority = 20
vip_tag = "VIP"

[ivr.prompts]
welcome-back = "hotline/welcome-back"
main-menu = "hotline/main-menu"
fault-menu = "hotline/fault-menu"
account = "hotline/enter-account"
invalid = "hotline/invalid"
closed = "hotline/closed"
callback-ok = "hotline/callback-ok"
callback-no = "hotline/callback-unavailable"
survey = "hotline/survey"
survey-invalid = "hotline/survey-invalid"
thanks = "hotline/thanks"

[ivr.hours]
mon = "00:00-24:00"
tue = "00:00-24:00"
wed = "00:00-24:00"
thu = "00:00-24:00"
fri = "00:00-24:00"
sat = "00:00-24:00"
sun = "00:00-24:00"
holidays = []

[ivr.nodes.main]
type = "menu"
prompt = "main-menu"
timeout_s = 5
retries = 3
invalid = "invalid"
default = "general"
  [ivr.nodes.main.options]
  "1" = "fault-menu"
  "2" = "complaint"
  "3" = "inquiry"
  "0" = "operator"
  "9" = "repeat"

[ivr.nodes.fault-menu]
type = "menu"
prompt = "fault-menu"
options = { "1" = "fault-account", "2" = "fault", "*" = "main" }
timeout_s = 5
retries = 2
invalid = "invalid"
default = "fault"

[ivr.nodes.fault-account]
type = "collect"
prompt = "account"
label = "account"
min_digits = 4
max_digits = 12
timeout_s = 5
retries = 2
invalid = "invalid"
next = "fault"
default = "fault"

[ivr.nodes.open-check]
type = "hours"
open = "main"
closed = "closed"

[ivr.nodes.closed]
type = "message"
prompt = "closed"
next = "callback-later"

[ivr.nodes.callback-later]
type = "callback_request"

[ivr.nodes.fault]
type = "queue"
queue = "fault"

[ivr.nodes.complaint]
type = "queue"
queue = "complaint"

[ivr.nodes.inquiry]
type = "queue"
skill = "inquiry"

[ivr.nodes.general]
type = "queue"
queue = "general"

[ivr.callback]
key = "*"
prompt = "callback-ok"
unavailable = "callback-no"
queues = ["fault", "complaint", "inquiry", "general"]
attempts = 3
retry_after_s = 60
ring_s = 30

[ivr.survey]
queues = ["fault", "complaint"]
prompt = "survey"
invalid = "survey-invalid"
thanks = "thanks"
timeout_s = 6
retries = 2
"""
