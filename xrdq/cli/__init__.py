"""The ``xrdq`` command line. Each pipeline stage registers its subcommands from its own module."""

from __future__ import annotations

import importlib
import sys

import click

from .._threads import single_thread_env
from .._version import __version__
from ..errors import XrdqError

# (module, command names) — imported lazily so `xrdq --help` stays fast.
_COMMAND_MODULES = {
    "info": "xrdq.cli.io_commands",
    "convert": "xrdq.cli.io_commands",
    "simulate": "xrdq.cli.model_commands",
    "calibrate": "xrdq.cli.model_commands",
    "quantify": "xrdq.cli.quant_commands",
    "demo": "xrdq.cli.quant_commands",
    "batch": "xrdq.cli.batch_commands",
    "export-gpx": "xrdq.cli.gsas2_commands",
    "phases": "xrdq.cli.phase_commands",
    "calibrate-scale": "xrdq.cli.extstd_commands",
    "ponkcs": "xrdq.cli.extstd_commands",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(_COMMAND_MODULES)

    def get_command(self, ctx, name):
        module_name = _COMMAND_MODULES.get(name)
        if module_name is None:
            return None
        module = importlib.import_module(module_name)
        return getattr(module, name.replace("-", "_"), None)


@click.group(cls=_LazyGroup)
@click.version_option(__version__, prog_name="xrdq")
def cli():
    """xrdq: amorphous content and phase fractions from powder X-ray diffraction."""


def main(argv=None):
    """Console entry point: XrdqErrors become one clear line on stderr and exit status 2."""
    single_thread_env()  # before numpy loads: the fit's thin matrices run fastest on one BLAS thread
    try:
        rv = cli.main(args=argv, prog_name="xrdq", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except XrdqError as exc:
        click.echo(f"xrdq: error: {exc}", err=True)
        sys.exit(2)
    except SystemExit:
        raise
    # Commands signal partial failure (e.g. batch: 3) by returning ctx.exit codes.
    sys.exit(rv if isinstance(rv, int) else 0)
