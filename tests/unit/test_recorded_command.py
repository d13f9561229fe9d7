"""What a run records of its command line: never the value of an option that may be a secret."""

from __future__ import annotations

from provisioner.cli.wiring import recorded_arguments


def test_a_token_and_a_notify_url_are_hidden_in_the_recorded_command() -> None:
    given = ["serve", "--watch", "--token", "s3cret", "--notify=https://hook/abc", "--every", "2s"]
    assert recorded_arguments(given) == [
        "serve", "--watch", "--token", "***", "--notify=***", "--every", "2s",
    ]  # fmt: skip
    assert recorded_arguments(["up", "dev", "--yes"]) == ["up", "dev", "--yes"]
