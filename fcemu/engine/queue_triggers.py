"""The eventbridge trigger with an MNS queue source: what makes it consume its queue.

A base of :class:`fcemu.engine.triggers.TriggerOperations` (and so of the engine), kept
apart so that module stays readable; the state is the trigger mixin's. A message sent to
a watched queue is received and deleted once it is visible, one invocation each
(:meth:`QueueTriggerOperations._consume`). A message the function refuses (its invocation
disabled, the trigger's qualifier gone) stays in the queue, hidden for the queue's
``VisibilityTimeout``, and is consumed again once it turns visible, as EventBridge's poll
would see it again (so is a message another consumer received and did not delete).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fcemu.triggers import events
from fcemu.triggers.model import ParsedConfig, QueueConfig, Trigger

if TYPE_CHECKING:
    from fcemu.clock import ManualClock, RealClock
    from fcemu.ids import IdGenerator
    from fcemu.models import Function
    from fcemu.scheduler import Scheduler, Timer
    from fcemu.settings import Settings
    from fcemu.smq import Message, Smq

__all__ = ["QueueTriggerOperations"]


class QueueTriggerOperations:
    """Queue-trigger consumption on the engine's trigger state (see the module docstring)."""

    settings: Settings
    clock: RealClock | ManualClock
    ids: IdGenerator
    scheduler: Scheduler
    functions: dict[str, Function]
    _smq: Smq
    _trigger_parsed: dict[tuple[str, str], ParsedConfig]
    #: queue -> the timer that consumes it when its earliest hidden message turns visible
    _queue_wakes: dict[str, Timer]
    #: The trigger mixin's.
    _watching: Callable[[type, Callable[[ParsedConfig], bool]], list[Trigger]]
    _start_or_log: Callable[[Trigger, bytes], bool]

    def _hook_sends(self) -> None:
        """Hook :meth:`_queue_sent` to the SMQ account's sends while an enabled queue
        trigger exists, and only then (issue 13: every send, a task's result message
        among them, made a call to find no trigger). Called whenever the parsed configs
        change: :meth:`_apply`, :meth:`_forget_trigger`, and :meth:`_consume_soon`, which a
        restore's queue triggers go through (``fcemu.engine.state``)."""
        watched = any(isinstance(p, QueueConfig) and p.enable
                      for p in self._trigger_parsed.values())
        if watched != (self._smq.on_send is not None):
            self._smq.on_send = self._queue_sent if watched else None

    def _queue_sent(self, queue: str, message: Message) -> None:
        """An SMQ hook: a message sent to ``queue`` (consumed once it is visible); hooked
        only while an enabled queue trigger exists (:meth:`_hook_sends`)."""
        if self._watching(QueueConfig, lambda p: isinstance(p, QueueConfig)
                          and p.queue == queue and p.enable):
            self._consume_soon(queue, message.next_visible_time)

    def _consume_soon(self, queue: str, at_ms: int) -> None:
        """Consume ``queue`` at ``at_ms`` (an enabled trigger watches it: sends are hooked
        from now on, if they were not yet)."""
        if self._smq.on_send is None:
            self._hook_sends()
        self.scheduler.call_at(max(at_ms, self.clock.now_ms()), lambda: self._consume(queue),
                               name=f"queue trigger {queue}", kind="task")

    def _consume(self, queue: str) -> None:
        """Receive and delete every visible message of ``queue``, one invocation each (the
        first enabled trigger watching it, in creation order, gets them)."""
        watching = self._watching(QueueConfig, lambda p: isinstance(p, QueueConfig)
                                  and p.queue == queue and p.enable)
        if not watching or not self._smq.queue_exists(queue):
            return
        trigger = watching[0]
        parsed = self._trigger_parsed[(trigger.function_name, trigger.trigger_name)]
        assert isinstance(parsed, QueueConfig)
        source = self._smq.get_queue(queue)
        while True:
            received = source.receive(16)
            if not received:
                break
            for message in received:
                now = self.clock.now_ms()
                event = events.queue_event(
                    event_id=self.ids.hex(32, "trigger"), region=self.settings.region,
                    account_id=self.settings.account_id, queue=queue,
                    bus=f"fc-{trigger.function_name}-{trigger.trigger_name}",
                    request_id=self._smq.new_request_id(), message_id=message.message_id,
                    body=message.body, enqueue_ms=message.enqueue_time, now_ms=now,
                    base64_decode=parsed.base64_decode)
                assert message.receipt_handle is not None
                if self._start_or_log(trigger, event):  # refused: back after its visibility
                    source.delete(message.receipt_handle)
        self._consume_when_visible(queue, source.next_visible_ms())

    def _consume_when_visible(self, queue: str, due: int | None) -> None:
        """Consume ``queue`` again when its earliest hidden message turns visible (one
        refused, or received by another consumer and not deleted), as EventBridge's poll
        would see it again. One wake per queue; a ``trigger`` timer, which ``drain`` does
        not chase: a refusal may repeat until the message expires."""
        wake = self._queue_wakes.get(queue)
        if wake is not None and not (wake.cancelled or wake.fired):
            if due is not None and wake.due_ms <= due:
                return
            wake.cancel()
        self._queue_wakes.pop(queue, None)
        if due is not None:
            self._queue_wakes[queue] = self.scheduler.call_at(
                due, lambda: self._consume(queue), name=f"queue trigger {queue}",
                kind="trigger")
