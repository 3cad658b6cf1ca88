"""The collectors of ``prometheus.PrometheusMetrics``: one set per registry and namespace."""

from __future__ import annotations

import dataclasses
import threading
import weakref
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["Collectors", "collectors_for"]


@dataclasses.dataclass(frozen=True)
class Collectors:
    """The metrics of one namespace in one registry, and the options they were made with."""

    retries: Counter
    give_ups: Counter
    requests: Counter
    retry_delay: Histogram
    hedges: Counter
    server_label: bool
    buckets: tuple[float, ...]

    @property
    def all(self) -> tuple[Any, ...]:
        return (self.retries, self.give_ups, self.requests, self.retry_delay, self.hedges)


# registry -> namespace -> its collectors. prometheus_client refuses a second
# registration of the same names, and several clients in one process is the
# normal case: the first PrometheusMetrics of a registry creates the
# collectors, the others reuse them. Weak: a registry dropped by its owner
# (a test's) takes its entry with it.
_shared: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, Collectors]] = (
    weakref.WeakKeyDictionary()
)
_shared_lock = threading.Lock()


def collectors_for(
    prometheus: ModuleType,
    registry: CollectorRegistry,
    namespace: str,
    server_label: bool,
    buckets: tuple[float, ...],
) -> Collectors:
    """The registry's collectors for ``namespace``: the existing ones, or new ones registered."""
    with _shared_lock:
        by_namespace = _shared.setdefault(registry, {})
        existing = by_namespace.get(namespace)
        if existing is not None and _still_registered(registry, existing):
            if existing.server_label != server_label:
                raise ValueError(
                    f"the {namespace}_* metrics are already registered in this registry "
                    f"with server_label={existing.server_label}, got server_label="
                    f"{server_label}: use the same server_label for every client of a "
                    "registry, or another namespace"
                )
            if existing.buckets != buckets:
                raise ValueError(
                    f"the {namespace}_* metrics are already registered in this registry "
                    f"with other buckets {existing.buckets}, got buckets={buckets}: use "
                    "the same buckets for every client of a registry, or another namespace"
                )
            return existing
        created = _create(prometheus, namespace, server_label, buckets)
        _register(registry, created, namespace)
        by_namespace[namespace] = created
        return created


def _still_registered(registry: CollectorRegistry, collectors: Collectors) -> bool:
    """Whether ``collectors`` are still in ``registry``: whoever owns it may unregister them.

    Asked through prometheus_client's public API: registering a collector
    whose names are taken fails, and one that succeeds is undone at once.
    """
    for collector in collectors.all:
        try:
            registry.register(collector)
        except ValueError:  # its names are taken: by itself, as we left it
            continue
        registry.unregister(collector)
        return False
    return True


def _create(
    prometheus: ModuleType, namespace: str, server_label: bool, buckets: tuple[float, ...]
) -> Collectors:
    where = ("method", "server_address") if server_label else ("method",)

    def counter(name: str, documentation: str, *labels: str) -> Counter:
        return prometheus.Counter(  # type: ignore[no-any-return]
            name, documentation, (*where, *labels), namespace=namespace, registry=None
        )

    return Collectors(
        retries=counter(
            "retries", "Retries scheduled, by the error or status that caused them.", "error_type"
        ),
        give_ups=counter(
            "give_ups", "Requests that ended because a retry was refused, by reason.", "reason"
        ),
        requests=counter(
            "requests",
            "Requests finished, by outcome and by why a retry was refused (if one was).",
            "outcome",
            "reason",
        ),
        retry_delay=prometheus.Histogram(
            "retry_delay_seconds",
            "Seconds slept before a retry.",
            where,
            namespace=namespace,
            registry=None,
            buckets=buckets,
        ),
        hedges=counter(
            "hedges", "Hedges sent: attempts started before the one in flight had failed."
        ),
        server_label=server_label,
        buckets=buckets,
    )


def _register(registry: CollectorRegistry, collectors: Collectors, namespace: str) -> None:
    """Register all of ``collectors`` or none."""
    done: list[Any] = []
    try:
        for collector in collectors.all:
            registry.register(collector)
            done.append(collector)
    except ValueError as exc:
        for collector in done:
            registry.unregister(collector)
        raise ValueError(
            f"the {namespace}_* metric names are already registered in this registry by "
            f"something else ({exc}); give resilient_transport another namespace"
        ) from exc
