"""First steps without curl: folders and attributes commands; unknown targets refused up front."""

from __future__ import annotations

import json

from click.testing import CliRunner

from etl.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_folders_and_attributes_commands(sandbox, monkeypatch):
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    created = invoke("folders", "create", "Imports", "--json")
    assert created.exit_code == 0, created.output
    folder = json.loads(created.output)
    assert folder["created"] is True
    again = json.loads(invoke("folders", "create", "Imports", "--json").output)
    assert (again["id"], again["created"]) == (folder["id"], False)  # reused, not duplicated
    listed = invoke("folders", "list")
    assert f"{folder['id']}\tImports" in listed.output.splitlines()

    made = invoke("attributes", "create", "loyalty_level", "--type", "float")
    assert made.exit_code == 0, made.output
    names = {
        a["name"]: a
        for a in json.loads(invoke("attributes", "list", "--json").output)["attributes"]
    }
    assert names["LOYALTY_LEVEL"]["type"] == "float"


def test_an_unknown_list_or_folder_is_refused_before_reading_the_files(
    sandbox, monkeypatch, tmp_path
):
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    # The file is not even a CSV: the target check must come first.
    src = tmp_path / "x.csv"
    src.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = invoke("import", str(src), "--list-id", "77")
    assert result.exit_code == 2, result.output
    assert "list 77 does not exist in this Brevo account" in result.output
    result = invoke("import", str(src), "--new-list", "New", "--folder-id", "9")
    assert result.exit_code == 2, result.output
    assert "folder 9 does not exist" in result.output
    assert "Traceback" not in result.output
