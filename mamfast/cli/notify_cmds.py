"""`mamfast notify test`: send a test message to every configured URL."""

from __future__ import annotations

import typer

from mamfast.cli.common import console, fail, run_async, settings_or_exit, shown


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Notifications (Apprise URLs or plain webhooks).", no_args_is_help=True
    )
    group.command(name="test")(notify_test)
    app.add_typer(group, name="notify")


def notify_test() -> None:
    """Send a test message to each MAMFAST_NOTIFY_URLS entry and report each result."""
    from mamfast.clients import notify

    settings = settings_or_exit()
    if not settings.notify_urls:
        fail("MAMFAST_NOTIFY_URLS is empty: nothing to test", code=2)
    results = run_async(notify.send(settings, notify.test_message()))
    for result in results:
        mark = "[green]sent[/]" if result.ok else f"[red]failed[/] ({result.detail})"
        console.print(f"{shown(result.url)}: {mark}", highlight=False)
    raise typer.Exit(0 if all(r.ok for r in results) else 1)
