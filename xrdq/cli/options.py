"""The refinement/quantification options ``xrdq quantify`` and ``xrdq batch`` share.

Built from :data:`xrdq.settings.SETTINGS`, the table the batch manifest reads too: add a setting
there and it appears in both commands' ``--help`` and as a manifest column.
"""

from __future__ import annotations

import click

from ..errors import XrdqError
from ..settings import SETTINGS, Setting, check_range, settings_from_values


def _callback(setting: Setting):
    def convert(ctx, param, value):
        if value is None or setting.kind == "flag":
            return value
        try:
            if setting.kind == "multiple":
                items = [t.strip() for v in value for t in str(v).split(";") if t.strip()]
                return [setting.parse(t) for t in items] if setting.parse else items
            if setting.parse is None:
                return value
            if setting.kind == "pair":
                return check_range(value)
            return setting.parse(value)
        except XrdqError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return convert


def _click_option(s: Setting):
    if "{instruments}" in s.help:
        from ..model.instrument import list_instruments

        text = s.help.format(instruments=", ".join(list_instruments()))
    else:
        text = s.help
    kw = dict(help=text, callback=_callback(s))
    if s.kind == "flag":
        return click.option(s.option, s.name, is_flag=True, help=text)
    if s.kind == "multiple":
        kw.update(multiple=True)
    elif s.kind == "pair":
        kw.update(nargs=2, type=float)
    elif s.choices:
        kw.update(type=click.Choice(s.choices))
    if s.metavar:
        kw["metavar"] = s.metavar
    if s.default is not None:
        kw.update(default=s.default, show_default=True)
    return click.option(s.option, s.name, **kw)


def refinement_options(f):
    """Decorator: every option of :data:`SETTINGS` (phases, standard, instrument, recipe, ...)."""
    for s in reversed(SETTINGS):
        f = _click_option(s)(f)
    return f


def pop_refinement_settings(params: dict) -> dict:
    """Remove the shared options from a command's ``params`` and return them as quantify keyword arguments.

    A ``--standard`` left at its default becomes xrdq's DEFAULT_STANDARD, so results label it as assumed.
    """
    values = {s.name: params.pop(s.name) for s in SETTINGS if s.name in params}
    settings = settings_from_values(values)
    ctx = click.get_current_context(silent=True)
    if (ctx is not None and settings.get("standard") is not None
            and ctx.get_parameter_source("standard") == click.core.ParameterSource.DEFAULT):
        from ..quant.defaults import DEFAULT_STANDARD

        settings["standard"] = DEFAULT_STANDARD
    return settings
