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


import pytest  # noqa: E402


@pytest.mark.parametrize("variable, value, says", [
    ("SECONDLOOK_GRPC_PORT", "70000", "less than or equal to 65535"),
    ("SECONDLOOK_METRICS_PORT", "-5", "greater than or equal to 0"),
    ("SECONDLOOK_GRPC_MAX_MESSAGE_BYTES", "-1", "greater than or equal to 1024"),
    ("SECONDLOOK_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO'"),
    ("SECONDLOOK_INTAKE_TARGET", "::not a target::", "host:port"),
    ("SECONDLOOK_EMAIL_FROM", "not an address", "e-mail address"),
    ("SECONDLOOK_NOTIFY_PORTAL_URL", "javascript:alert(1)", "http(s) URL"),
    ("SECONDLOOK_MONGO_URI", "mongodb://", "not a MongoDB connection string"),
    ("SECONDLOOK_MONGO_URI", "mongodb://user:pa55word@127.0.0.1:99999/", "Port must be"),
    ("SECONDLOOK_MONGO_URI", "mongodb://h/?tlsCAFile=/no/such/ca.pem", "not readable"),
    ("SECONDLOOK_EMAIL_FROM", "secondlook <>", "no e-mail address"),
    ("SECONDLOOK_KAFKA_SECURITY_PROTOCOL", "SASL_SSL", "'PLAINTEXT' or 'SSL'"),
    ("SECONDLOOK_KAFKA_BOOTSTRAP_SERVERS", " ", "host[:port]"),
    ("SECONDLOOK_KAFKA_BOOTSTRAP_SERVERS", " , ", "host[:port]"),
])
def test_a_bad_setting_is_named_by_its_variable_without_its_value(monkeypatch, variable, value, says):
    from pydantic import ValidationError

    from secondlook.settings import Settings, setting_problems
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    [(named, problem)] = setting_problems(refused.value)
    assert named == variable and says in problem and "pa55word" not in problem


def test_the_log_level_is_read_in_any_case(monkeypatch):
    from secondlook.settings import Settings
    monkeypatch.setenv("SECONDLOOK_LOG_LEVEL", " debug")
    assert Settings().log_level == "DEBUG"


def test_a_service_with_a_bad_setting_says_so_in_one_line_and_exits_2(monkeypatch):
    import json
    import subprocess
    import sys
    env = {"SECONDLOOK_GRPC_PORT": "abc", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "services.intake"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert (line["event"], line["setting"]) == ("setting_invalid", "SECONDLOOK_GRPC_PORT")
    # What a service needs and a tool may go without (the token key) is said the same way.
    done = subprocess.run([sys.executable, "-m", "services.intake"], env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert (line["event"], line["setting"]) == ("setting_invalid", "SECONDLOOK_JWT_SECRET")


@pytest.mark.parametrize("variable, value, read", [
    ("SECONDLOOK_MONGO_URI", "mongodb://h1,h2/?replicaSet=rs0&someOldOption=1", None),  # the driver only warns
    ("SECONDLOOK_MONGO_URI", "mongodb://u:p@[::1]:27017/?authSource=admin", None),
    ("SECONDLOOK_LOG_LEVEL", "warn", "WARNING"),
    ("SECONDLOOK_LOG_LEVEL", "Fatal", "CRITICAL"),
    ("SECONDLOOK_INTAKE_TARGET", "unix:///var/run/intake.sock", None),
    ("SECONDLOOK_INTAKE_TARGET", "dns:///intake.secondlook.svc:50051", None),
    ("SECONDLOOK_MATCHING_TARGET", "[::1]:50052", None),
    ("SECONDLOOK_EMAIL_FROM", "noreply@secondlook.local", None),
    ("SECONDLOOK_EMAIL_FROM", "notices@example.org (secondlook)", None),
])
def test_what_the_driver_grpc_and_a_relay_take_is_taken(monkeypatch, variable, value, read):
    import warnings

    from secondlook.settings import Settings
    monkeypatch.setenv(variable, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the driver's own word on an option it does not know
        assert getattr(Settings(), variable.removeprefix("SECONDLOOK_").lower()) == (read or value)


def test_a_list_setting_that_is_no_json_is_one_line_too(monkeypatch, capsys):
    from secondlook import cli
    monkeypatch.setenv("SECONDLOOK_REVIEW_BLIND_TENANTS", "t1")
    parser, _ = cli.build_parser()
    assert cli.run(parser.parse_args(["audit", "verify"])) == 2
    assert capsys.readouterr().err.startswith("error: SECONDLOOK_REVIEW_BLIND_TENANTS: ")
