from secondlook.auth import TokenVerifier
from secondlook.cli import main
from secondlook.settings import Settings

KEY = "cli-test-key-0123456789abcdef0123456789"


def test_token_mints_a_jwt_the_services_accept(monkeypatch, capsys):
    monkeypatch.setenv("SECONDLOOK_JWT_SECRET", KEY)
    assert main(["token", "--subject", "dr-a", "--tenant", "t1", "--role", "reviewer",
                 "--specialist-id", "spec-001"]) == 0
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(Settings(jwt_secret=KEY)).verify(f"Bearer {token}")
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
