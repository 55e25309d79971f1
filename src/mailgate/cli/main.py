"""The `mailgate` command line: administration on the server itself.

Without `--as`, commands act as the local operator (whoever can run this command can read the
data directory anyway) and are audited as `cli:<user>`. With `--as ADDRESS` they act with that
account's roles only, exactly as the web console would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mailgate import __version__
from mailgate.cli import (
    accounts,
    admin_security,
    directory,
    factors,
    forwarding,
    mail,
    onboarding,
    outbound,
    policy,
    recovery,
    routes,
    security,
    system,
)
from mailgate.cli.runtime import CliState, RuntimeFactory


def build_cli(factory: RuntimeFactory) -> typer.Typer:
    app = typer.Typer(
        name="mailgate",
        help="Mailgate: company mail accounts from application to inbox.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        add_completion=False,
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        data_dir: Annotated[
            Path | None,
            typer.Option(
                "--data-dir",
                help="Data directory (database, blobs, TLS). Default ./mailgate-data, "
                "or MAILGATE_DATA_DIR.",
            ),
        ] = None,
        config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
        act_as: Annotated[
            str | None,
            typer.Option("--as", help="Act as this admin account, with its roles only."),
        ] = None,
        json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
        version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
    ) -> None:
        if version:
            typer.echo(__version__)
            raise typer.Exit(0)
        ctx.obj = CliState(factory, data_dir, config, act_as, json)

    system.register(app)
    directory.register(app)
    accounts.register(app)
    admin_security.register(app)  # after accounts: adds to `account`
    forwarding.register(app)  # after accounts: adds `account forwarding`
    routes.register(app)
    outbound.register(app)  # after directory: adds `domain dns`
    mail.register(app)
    security.register(app)
    factors.register(app)
    policy.register(app)
    recovery.register(app)
    onboarding.register(app)
    return app
