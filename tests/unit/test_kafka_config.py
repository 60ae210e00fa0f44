"""Kafka client settings are built in one place, from settings whose defaults
are right for real Kafka; only the dev stack shortens them for the embedded broker."""

from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor

from devstack.stack import EMBEDDED_BROKER, Stack
from secondlook.bus import consumer_config, producer_config
from secondlook.settings import Settings


def test_consumer_defaults_suit_real_kafka():
    config = consumer_config(Settings(), "secondlook-intake")
    assert config["max_poll_interval_ms"] >= 60_000
    assert config["session_timeout_ms"] == 45_000 and config["heartbeat_interval_ms"] == 3_000
    assert config["partition_assignment_strategy"] == (CooperativeStickyAssignor,)
    assert config["enable_auto_commit"] is False  # offsets follow durable effects only
    assert "group_instance_id" not in config  # static membership is opt-in


def test_static_membership_uses_the_instance_id():
    settings = Settings(instance_id="intake-0", kafka_consumer_static_membership=True)
    assert consumer_config(settings, "secondlook-intake")["group_instance_id"] == "secondlook-intake-intake-0"


def test_producers_wait_for_every_replica_and_are_idempotent_by_default():
    config = producer_config(Settings(), "x")
    assert config["acks"] == "all" and config["enable_idempotence"] is True


def test_only_the_dev_stack_carries_the_embedded_brokers_timings(tmp_path):
    settings = Stack(tmp_path).settings()
    config = consumer_config(settings, "g")
    assert config["max_poll_interval_ms"] == int(EMBEDDED_BROKER["SECONDLOOK_KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS"])
    assert config["partition_assignment_strategy"] == (RangePartitionAssignor,)
    assert producer_config(settings, "x")["enable_idempotence"] is False


def test_clients_keep_no_metrics_of_their_own():
    """Nothing reads kafka-python's sensors (Prometheus metrics are the services' own),
    and they are recorded on every request: off, on consumers and producers alike."""
    assert consumer_config(Settings(), "g")["metrics_enabled"] is False
    assert producer_config(Settings(), "x")["metrics_enabled"] is False
