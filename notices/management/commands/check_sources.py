from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notices.linkcheck import Options, RunReport, check_sources, due, plan, urls_to_check


class Command(BaseCommand):
    help = (
        "Check the source link of every notice (never-checked first, then the oldest "
        "checked) and store what was found: ok, gone (404/410), moved_home, domain_gone, "
        "error or disallowed (robots.txt). Politely: a per-host limit and delay, robots.txt, "
        "an honest User-Agent (docs/deploy.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = Options()
        parser.add_argument(
            "--workers",
            type=int,
            default=defaults.workers,
            help="requests in flight in all (default %(default)s)",
        )
        parser.add_argument(
            "--per-host",
            type=int,
            default=defaults.per_host,
            help="requests in flight to one host (default %(default)s)",
        )
        parser.add_argument(
            "--delay",
            type=float,
            default=defaults.delay,
            help="seconds between two requests to one host (default %(default)s)",
        )
        parser.add_argument("--connect-timeout", type=float, default=defaults.connect_timeout)
        parser.add_argument("--read-timeout", type=float, default=defaults.read_timeout)
        parser.add_argument(
            "--deadline",
            type=float,
            default=defaults.deadline,
            help="network seconds for one URL, redirects included",
        )
        parser.add_argument("--limit", type=int, help="check at most N URLs")
        parser.add_argument(
            "--older-than",
            type=float,
            metavar="DAYS",
            help="only URLs not checked for DAYS days (never checked: always)",
        )
        parser.add_argument(
            "--allow-private",
            action="store_true",
            help="also check hosts at private, loopback or link-local addresses (an intranet)",
        )
        parser.add_argument(
            "--plan",
            action="store_true",
            help="print what would be checked (URLs, hosts) and request nothing",
        )
        # fmt: skip

    def handle(self, *args, **options) -> str:
        try:
            settings = Options(
                workers=options["workers"], per_host=options["per_host"], delay=options["delay"],
                connect_timeout=options["connect_timeout"], read_timeout=options["read_timeout"],
                deadline=options["deadline"], allow_private=options["allow_private"],
            )  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["limit"] is not None and options["limit"] < 0:
            raise CommandError("--limit must not be negative")
        older = options["older_than"]
        every = urls_to_check()
        todo = due(
            every,
            older_than=dt.timedelta(days=older) if older is not None else None,
            limit=options["limit"],
        )
        if options["plan"]:
            return "\n".join(plan(every, todo).lines(settings))
        verbosity = options["verbosity"]
        if verbosity >= 1:
            self.stdout.write(
                f"Checking {len(todo)} of {len(every)} URLs as {settings.user_agent!r}"
            )

        def progress(report: RunReport, total: int) -> None:
            if verbosity >= 1:
                self.stdout.write(f"{report.checked}/{total} URLs: {report.summary()}")

        return check_sources(todo, settings, progress=progress).summary()
