"""A metrics snapshot (:meth:`fcemu.metrics.Metrics.snapshot`) in the Prometheus text
exposition format (version 0.0.4), served at ``/metrics``.

It is written here, not with ``prometheus-client``: that library keeps cumulative values
in process-global registries on wall time, while these numbers live and die with the
engine (a reset clears them, a manual clock dates them) and the percentiles are over a
window of emulator time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["prometheus_text"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def prometheus_text(snapshot: dict[str, Any]) -> str:
    """``snapshot`` (:meth:`Metrics.snapshot`) in the Prometheus text format 0.0.4."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str,
               samples: Iterable[tuple[str, dict[str, str], float | int | None]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            shown = "NaN" if value is None else (f"{value / 1000:g}" if suffix == "_ms"
                                                 else str(value))
            lines.append(f"{name}{'' if suffix == '_ms' else suffix}{_labels(**labels)} {shown}")

    fns = snapshot["functions"]

    def per_fn(field_name: str) -> list[tuple[str, dict[str, str], float | int | None]]:
        return [("", {"function": f["functionName"], "qualifier": f["qualifier"]},
                 f[field_name]) for f in fns]

    family("fcemu_async_events_enqueued_total", "counter",
           "Async invocations accepted (FC FunctionEnqueueCount).", per_fn("enqueued"))
    family("fcemu_async_events_dequeued_total", "counter",
           "Async invocations that started their first attempt (FC FunctionDequeueCount).",
           per_fn("dequeued"))
    family("fcemu_async_tasks_total", "counter",
           "Async invocations that ended, by terminal status.",
           [("", {"function": f["functionName"], "qualifier": f["qualifier"], "status": s}, n)
            for f in fns for s, n in f["byStatus"].items()])
    family("fcemu_throttles_total", "counter",
           "Invocations (429) and async attempts refused by a concurrency limit.",
           per_fn("throttles"))
    family("fcemu_destination_deliveries_total", "counter",
           "Result messages pushed to destinations, by outcome "
           "(FC FunctionDestinationSucceeded / FunctionDestinationErrors).",
           [("", {"function": f["functionName"], "qualifier": f["qualifier"], "result": r}, n)
            for f in fns for r, n in f["destinations"].items()])
    family("fcemu_async_backlog", "gauge",
           "Async invocations waiting to run (FC FunctionAsyncMessagesBacklogV2).",
           per_fn("backlog"))
    family("fcemu_async_in_process", "gauge",
           "Async invocations running (FC FunctionAsyncMessagesInProcess).", per_fn("inProcess"))
    for stage, what in (("start", "enqueue to first start"), ("end", "enqueue to end")):
        samples: list[tuple[str, dict[str, str], float | int | None]] = []
        for f in fns:
            base = {"function": f["functionName"], "qualifier": f["qualifier"]}
            lat = f["latencyMs"][stage]
            samples += [("_ms", {**base, "quantile": "0.5"}, lat["p50"]),
                        ("_ms", {**base, "quantile": "0.99"}, lat["p99"]),
                        ("_sum", base, lat["sumMs"] / 1000), ("_count", base, lat["count"])]
        family(f"fcemu_async_latency_{stage}_seconds", "summary",
               f"Async latency, {what}, emulator time (quantiles: last hour).", samples)
    instances = snapshot["instances"]
    family("fcemu_instances", "gauge", "Handler instances alive now.",
           [("", {}, instances.get("live", 0))])
    family("fcemu_instances_peak", "gauge", "The most handler instances alive at once.",
           [("", {}, instances.get("peak", 0))])
    family("fcemu_smq_queue_messages", "gauge",
           "SMQ messages per queue: active (visible), inactive (in flight) and delayed.",
           [("", {"queue": q["name"], "state": state}, q[key]) for q in snapshot["queues"]
            for state, key in (("active", "active"), ("inactive", "inactive"),
                               ("delayed", "delayed"))])
    return "\n".join(lines) + "\n"
