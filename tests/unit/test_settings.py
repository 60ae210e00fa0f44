from secondlook.settings import Settings


def test_settings_come_from_secondlook_environment_variables(monkeypatch):
    monkeypatch.setenv("SECONDLOOK_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("SECONDLOOK_KAFKA_ENABLE_IDEMPOTENCE", "false")
    monkeypatch.setenv("SECONDLOOK_GRPC_PORT", "6000")
    s = Settings()
    assert s.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert s.kafka_enable_idempotence is False
    assert s.grpc_port == 6000


def test_each_service_owns_its_database():
    assert Settings().database_for("intake") == "secondlook_intake"
    assert Settings(mongo_database_prefix="staging").database_for("review") == "staging_review"


def test_the_signing_key_is_not_printed():
    assert "sekrit-value" not in repr(Settings(jwt_secret="sekrit-value"))
