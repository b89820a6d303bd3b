"""The NATS JetStream backend of the bus: publisher, consumer runner, streams and DLQ."""

from runtime.bus.dlq import DeadLetter, dead_letter, dlq_subject, list_dead_letters, redrive
from runtime.bus.nats_consumer import ConsumerRunner, backoff_delay
from runtime.bus.nats_publisher import DLQ_STREAM, NatsEventSink, PipelinedSink, ensure_streams

__all__ = [
    "DLQ_STREAM",
    "ConsumerRunner",
    "DeadLetter",
    "NatsEventSink",
    "PipelinedSink",
    "backoff_delay",
    "dead_letter",
    "dlq_subject",
    "ensure_streams",
    "list_dead_letters",
    "redrive",
]
