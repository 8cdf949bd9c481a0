"""Triggers, the pure parts: schedules (:mod:`.schedule`), trigger records and their
``triggerConfig`` per type (:mod:`.model`) and the events handed to functions
(:mod:`.events`). No engine, no clock: the engine mixin :mod:`fcemu.engine.triggers`
stores triggers, schedules timer fires on the emulator clock and starts the invocations.
"""

from __future__ import annotations

from fcemu.triggers.events import SAMPLE_EVENTS, HttpReply, HttpRequestParts
from fcemu.triggers.model import (
    TRIGGER_TYPES,
    HttpConfig,
    QueueConfig,
    TimerConfig,
    TopicConfig,
    Trigger,
    TriggerConfigError,
    TriggerSpec,
)
from fcemu.triggers.schedule import Cron, Every, ScheduleError, parse_schedule

__all__ = ["SAMPLE_EVENTS", "TRIGGER_TYPES", "Cron", "Every", "HttpConfig", "HttpReply",
           "HttpRequestParts", "QueueConfig", "ScheduleError", "TimerConfig", "TopicConfig",
           "Trigger", "TriggerConfigError", "TriggerSpec", "parse_schedule"]
