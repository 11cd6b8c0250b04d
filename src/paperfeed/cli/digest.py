"""`paperfeed digest`: compose and send the period's digests, preview one, run the schedule."""

from __future__ import annotations

from typing import Annotated

import typer

from paperfeed.cli.common import fail, load_settings, open_db, parse_day, progress_bar, say, warn
from paperfeed.digest.subscriptions import Frequency

app = typer.Typer(help="Email digests: send, preview, schedule.", no_args_is_help=True)


@app.command("send")
def send(
    period: Annotated[str, typer.Option("--period", help="daily or weekly.")] = "daily",
    day: Annotated[
        str | None,
        typer.Option("--date", help="A day of the period (default: yesterday, or last week)."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes composing digests (one per core).")
    ] = 1,
) -> None:
    """Compose the period's digests and send every mail due; a killed run resumes exactly.

    Exit status: 0 all sent, 1 the SMTP server failed (the rest waits for the next run).
    """
    from paperfeed.digest import compose, service

    settings = load_settings()
    frequency = _frequency(period)
    when = parse_day(day, "--date") if day else compose.default_day(frequency)
    with open_db(settings) as db, progress_bar() as progress:
        composed, sent = service.send_digests(
            db, settings, frequency, when, workers=workers, progress=progress
        )
    if not composed.papers:
        say(f"{composed.key}: no papers in this period (a weekend or holiday?), so no digest")
    else:
        say(
            f"{composed.key}: {composed.papers} papers; {composed.composed} digests composed, "
            f"{composed.nothing_new} with nothing new, {composed.already} composed before"
        )
    say(
        f"sent {sent.sent} mails; {sent.bounced} bounced, {sent.refused} refused, "
        f"{sent.dropped} dropped (left)"
    )
    if sent.stopped:
        raise fail(f"stopped: {sent.stopped}; run again to send the rest")


@app.command("preview")
def preview(
    email: Annotated[str, typer.Option("--email", help="The subscriber's address.")],
    period: Annotated[
        str | None, typer.Option("--period", help="daily or weekly (default: theirs).")
    ] = None,
    day: Annotated[
        str | None, typer.Option("--date", help="A day of the period (default: the next one).")
    ] = None,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part.")] = False,
) -> None:
    """Print the next digest of a subscriber (or of a new one) without sending it."""
    from paperfeed.digest import service, subscriptions
    from paperfeed.domain import InvalidEmail, normalize_email

    settings = load_settings()
    try:
        address = normalize_email(email)
    except InvalidEmail as error:
        raise typer.BadParameter(str(error)) from None
    frequency = _frequency(period) if period else None
    when = parse_day(day, "--date") if day else None
    with open_db(settings) as db, db.sessions() as session:
        row = subscriptions.by_email(session, address)
        if row is None:
            warn(f"{address} is not subscribed: previewing the default daily digest")
            row = service.unsaved_subscription(address)
        shown = service.preview(session, settings, row, frequency, when)
    if shown is None:
        raise fail("no papers yet; import some first")
    if shown.note:
        warn(shown.note)
    print(shown.html if html else f"Subject: {shown.subject}\n\n{shown.text}")


@app.command("schedule")
def schedule() -> None:
    """Run the digest schedule in the foreground: daily at the send time, weekly on Mondays."""
    import contextlib
    import threading

    from paperfeed.digest import schedule as digest_schedule

    settings = load_settings()
    with open_db(settings) as db:
        warn(f"sending digests daily at {settings.digest_send_time} UTC (Ctrl+C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            digest_schedule.run_forever(db, settings, threading.Event())


def _frequency(text: str) -> Frequency:
    if text == "daily":
        return "daily"
    if text == "weekly":
        return "weekly"
    raise typer.BadParameter(f"--period must be daily or weekly, not {text!r}")
