import pytest
from pymongo.errors import EncryptionError, ServerSelectionTimeoutError

from secondlook import cli
from secondlook.auth import TokenVerifier
from secondlook.cli import main
from secondlook.settings import Settings

KEY = "cli-test-key-0123456789abcdef0123456789"


def test_token_mints_a_jwt_the_services_accept(monkeypatch, capsys):
    monkeypatch.setenv("SECONDLOOK_JWT_SECRET", KEY)
    assert main(["token", "--subject", "dr-a", "--tenant", "t1", "--role", "reviewer",
                 "--specialist-id", "spec-001"]) == 0
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(Settings(jwt_secret=KEY)).verify([f"Bearer {token}"])
    assert (principal.subject, principal.tenant, principal.specialist_id) == ("dr-a", "t1", "spec-001")


def test_token_refuses_unknown_roles_and_a_missing_key(monkeypatch, capsys):
    monkeypatch.setenv("SECONDLOOK_JWT_SECRET", KEY)
    assert main(["token", "--subject", "a", "--tenant", "t", "--role", "admin"]) == 2
    assert "'admin' is not one of" in capsys.readouterr().err
    assert main(["token", "--subject", "a", "--tenant", "t", "--role", "reviewer"]) == 2
    assert "--specialist-id" in capsys.readouterr().err
    monkeypatch.delenv("SECONDLOOK_JWT_SECRET")
    assert main(["token", "--subject", "a", "--tenant", "t", "--role", "submitter"]) == 2
    assert "SECONDLOOK_JWT_SECRET" in capsys.readouterr().err


def test_token_refuses_an_empty_subject_or_tenant_and_a_lifetime_not_above_0(monkeypatch, capsys):
    monkeypatch.setenv("SECONDLOOK_JWT_SECRET", KEY)
    for bad in (["--subject", " "], ["--tenant", ""], ["--ttl", "-5"], ["--subject", "a\x1bb"],
                ["--tenant", "t" * 300], ["--ttl", "99999999999999"]):
        args = {"--subject": "a", "--tenant": "t", "--ttl": "60"} | dict([bad])
        assert main(["token", "--role", "submitter", *[x for kv in args.items() for x in kv]]) == 2
        assert capsys.readouterr().err.startswith("error: --")


def test_what_an_operator_can_put_right_is_one_line_and_exit_status_2(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "nowhere" / "directory.json"
    assert main(["directory", "generate", "--count", "2", "--out", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: No such file or directory: {missing}\n"

    def unreachable(args):
        raise ServerSelectionTimeoutError("localhost:27017: [Errno 111] Connection refused")

    monkeypatch.setattr(cli, "_audit_verify", unreachable)
    assert main(["audit", "verify"]) == 2
    assert capsys.readouterr().err.startswith("error: the store cannot be reached (ServerSelectionTimeoutError); "
                                              "set SECONDLOOK_MONGO_URI")


def test_a_report_window_past_the_calendar_and_a_rotation_missing_its_old_key_are_one_line(monkeypatch, capsys):
    from services import cli as services_cli

    for bad, why in ((["--from", "2026-01-01", "--to", "9999-12-31"], "'9999-12-31' is outside the years 1 to 9999"),
                     (["--from", "0001-01-01", "--to", "2026-01-01"], "'0001-01-01': give a time from 1970 to 2200")):
        with pytest.raises(SystemExit) as refused:  # argparse's own refusal: usage and the reason, exit 2
            services_cli.main(["report", "prior-auth", *bad])
        assert refused.value.code == 2 and why in capsys.readouterr().err

    async def unwrappable(settings, client):
        raise EncryptionError("KMS provider local:12ec0a is not configured")

    monkeypatch.setattr(cli.phi, "rotate", unwrappable)
    assert main(["keys", "rotate"]) == 2
    assert "SECONDLOOK_PHI_LOCAL_PREVIOUS_MASTER_KEY_FILE" in capsys.readouterr().err


def test_a_table_shows_control_sequences_escaped_never_acted_on():
    shown = cli.table("t", ("subject", "method"), [("evil\x1b[2J\x1b[31mFAKE\nrow", "GetCase"), ("Zoë", "GetCase")])
    assert "\x1b" not in shown and "\\x1b[2J" in shown and "FAKE\\nrow" in shown and "Zoë" in shown
    assert len(shown.splitlines()) == 5  # title, header, rule, two rows: no forged line


def test_a_bad_setting_or_store_address_is_one_line_naming_the_variable(monkeypatch, capsys):
    from secondlook import cli as kernel_cli
    parser, _ = kernel_cli.build_parser()
    for variable, value in (("SECONDLOOK_SMTP_PORT", "abc"), ("SECONDLOOK_MONGO_URI", "mongodb://")):
        monkeypatch.setenv(variable, value)
        assert kernel_cli.run(parser.parse_args(["audit", "verify"])) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {variable}: ") and err.count("\n") == 1
        monkeypatch.delenv(variable)


def test_token_takes_the_issuer_the_services_are_set_to(monkeypatch, capsys):
    import jwt
    monkeypatch.setenv("SECONDLOOK_JWT_SECRET", KEY)
    assert main(["token", "--subject", "a", "--tenant", "t", "--role", "submitter", "--issuer", "secondlook"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["iss"] == "secondlook"


def test_a_new_local_key_needs_a_file_path_in_an_existing_folder(capsys, tmp_path):
    assert main(["keys", "new-local-key", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["keys", "new-local-key", str(tmp_path / "nowhere" / "k")]) == 2
    assert "no folder" in capsys.readouterr().err and not (tmp_path / "nowhere").exists()
    assert main(["keys", "new-local-key", str(tmp_path / "k")]) == 0 and (tmp_path / "k").stat().st_size > 0


def test_names_given_on_the_command_line_are_taken_in_normal_form_c(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "run", lambda args: seen.update(vars(args)) or 0)
    assert main(["audit", "show", "case-1", "--tenant", "clinique-e\u0301"]) == 0
    assert seen["tenant"] == "clinique-\u00e9"
    assert main(["token", "--subject", "zoe\u0301", "--tenant", "t", "--role", "operator",
                 "--grant-tenant", "ho\u0302pital"]) == 0
    assert (seen["subject"], seen["grant_tenant"]) == ("zo\u00e9", ["h\u00f4pital"])
