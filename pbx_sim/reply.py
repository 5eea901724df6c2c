"""Where an action's answer goes: the response and, for list actions, the item events
and the ``...Complete`` event, all carrying the action's ActionID (Asterisk 22's layout)."""

from __future__ import annotations

from collections.abc import Iterable

from cti.ami.codec import Message

__all__ = ["ActionReply", "CollectingReply"]


class ActionReply:
    """Where one action's answer goes. Subclasses implement :meth:`deliver`."""

    def __init__(self, action_id: str | None = None) -> None:
        self.action_id = action_id
        #: True while a blocking action (a synchronous Originate) has not answered yet.
        self.pending = False

    def deliver(self, msg: Message) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """A pending action has sent its response (the session may carry on)."""
        self.pending = False

    # -- builders ------------------------------------------------------------------------

    def respond(self, response: str, fields: Iterable[tuple[str, str]] = ()) -> None:
        pairs = [("Response", response)]
        if self.action_id is not None:
            pairs.append(("ActionID", self.action_id))
        pairs.extend(fields)
        self.deliver(Message(pairs))

    def success(self, message: str | None = None, fields: Iterable[tuple[str, str]] = ()) -> None:
        pairs: list[tuple[str, str]] = []
        if message is not None:
            pairs.append(("Message", message))
        pairs.extend(fields)
        self.respond("Success", pairs)

    def error(self, message: str) -> None:
        self.respond("Error", (("Message", message),))

    def list_start(self, message: str) -> None:
        self.respond("Success", (("EventList", "start"), ("Message", message)))

    def item(
        self,
        event: str,
        fields: Iterable[tuple[str, str]],
        *,
        privilege: str | None = None,
        action_id_last: bool = False,
    ) -> None:
        pairs = [("Event", event)]
        if privilege is not None:
            pairs.append(("Privilege", privilege))
        if not action_id_last and self.action_id is not None:
            pairs.append(("ActionID", self.action_id))
        pairs.extend(fields)
        if action_id_last and self.action_id is not None:
            pairs.append(("ActionID", self.action_id))
        self.deliver(Message(pairs))

    def list_complete(self, event: str, count: int, extra: Iterable[tuple[str, str]] = ()) -> None:
        pairs = [("Event", event)]
        if self.action_id is not None:
            pairs.append(("ActionID", self.action_id))
        pairs.append(("EventList", "Complete"))
        pairs.append(("ListItems", str(count)))
        pairs.extend(extra)
        self.deliver(Message(pairs))


class CollectingReply(ActionReply):
    """Keeps every message (for in-process callers and tests)."""

    def __init__(self, action_id: str | None = None) -> None:
        super().__init__(action_id)
        self.messages: list[Message] = []

    def deliver(self, msg: Message) -> None:
        self.messages.append(msg)
