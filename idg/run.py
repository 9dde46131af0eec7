"""Entry point: ``python -m idg.run [overrides]`` runs the study that the composed config describes.

Thin on purpose: compose (Hydra) -> validate (typed config, before any model loads) -> run the selected
stages (:func:`idg.pipeline.run_study`) -> return the main metric, so Hydra sweepers can optimise it.

Every error the user can fix ends the same way, whether Hydra finds it while composing (an unknown group
option, a misspelt key, a wrong type, an unparsable override) or idg does while validating (a range, a
missing file): one ``idg: error: ...`` paragraph on stderr naming the key or file, exit status 2, no
traceback. ``HYDRA_FULL_ERROR=1`` shows the traceback instead. Anything else is a bug and keeps Hydra's
own report (traceback, exit status 1).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import hydra
from hydra._internal.utils import run_and_report as _hydra_run_and_report
from omegaconf import DictConfig, OmegaConf

from idg.core import interrupt
from idg.core.config import REPO_ROOT, register_configs
from idg.core.interrupt import Terminated

register_configs()
log = logging.getLogger("idg")


def _hydra_context() -> tuple[str, Optional[str], Optional[dict]]:
    """This job's output dir and, when it is part of a --multirun, the sweep's W&B group and what the job
    sweeps (keys and values, for the W&B config)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from idg.core.overrides import group_name, sweep_info

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return hc.runtime.output_dir, None, None
    try:
        sweep = sweep_info(hc.sweep.dir, hc.job.num, list(hc.overrides.task))
    except Exception as exc:  # noqa: BLE001 - W&B bookkeeping must never stop a sweep job
        log.warning("could not read the sweep's overrides (%s); W&B config gets no sweep keys", exc)
        return hc.runtime.output_dir, group_name(hc.sweep.dir), None
    return hc.runtime.output_dir, sweep["name"], sweep


def exit_user_error(message: str) -> None:
    """The one way a user error ends the program: one paragraph on stderr, exit status 2."""
    print(f"idg: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def run_app(cfg: DictConfig, run_dir: Optional[str] = None, group: Optional[str] = None,
            sweep: Optional[dict] = None, overrides: Sequence[str] = (), verbose: bool = False) -> Optional[float]:
    """Validate ``cfg`` (and refuse secrets in ``overrides``) and run the study; user errors exit 2 with one
    clear paragraph (traceback with HYDRA_FULL_ERROR=1). ``verbose`` (``-v``) turns Ultralytics' own
    output on, as ``detector.verbose=true`` does."""
    from idg.core.errors import ConfigError, IdgError, full_error_requested, user_message
    from idg.core.progress import FILE_ONLY
    from idg.core.secrets import secret_override
    from idg.pipeline import load_config, run_study

    try:
        secret = secret_override(overrides)
        if secret:
            raise ConfigError(secret)
        conf = load_config(cfg)
        conf.detector.verbose = conf.detector.verbose or verbose
        run_dir = conf.run_dir or run_dir
        container = OmegaConf.to_container(cfg, resolve=True)
        metrics = run_study(conf, container, run_dir, group=group, sweep=sweep)
    except IdgError as exc:
        if full_error_requested() or os.getpid() not in _CLI_PID:
            # A job a launcher runs in another process (submitit, Ray, joblib) raises: the launcher carries
            # the error back to the CLI, which reports it once (an exit there would kill a Ray worker, which
            # Ray retries, and lose the message).
            raise
        log.error("%s", exc, extra=FILE_ONLY)  # into the run's log file; the console gets the one paragraph below
        exit_user_error(user_message(exc))
    return metrics.get("main_metric")


def _report_errors(func: Callable[[], Any]) -> Any:
    """Replaces Hydra's ``run_and_report`` for the CLI: Hydra's own user errors (an unknown option, a
    misspelt key, a wrong type) become one ``idg: error:`` paragraph and exit 2, like idg's; with
    HYDRA_FULL_ERROR=1, or for any other exception, Hydra reports as usual."""
    from idg.core.disk import disk_full_message
    from idg.core.errors import full_error_requested, user_message

    try:
        return func()
    except Exception as exc:  # noqa: BLE001 - sorted into user errors and bugs below
        # (a full disk while Hydra writes .hydra/ is one too; idg's own writes raise DiskFullError)
        message = None if full_error_requested() else (user_message(exc) or disk_full_message(exc))
        if message is None:
            return _hydra_run_and_report(lambda e=exc: _reraise(e))
        exit_user_error(message)


def _reraise(exc: BaseException) -> None:
    raise exc


def _scrub_hydra_outputs() -> None:
    """Redact secrets in the files Hydra wrote before idg ran (.hydra/*.yaml, a sweep's multirun.yaml)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from idg.core.secrets import scrub_hydra_dir

    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    sweep_dir = Path(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN and hc.sweep.dir else None
    scrub_hydra_dir(out / hc.output_subdir if hc.output_subdir else None, sweep_dir)


_RUN_DIRS: list = []  # the run dir of the job in progress, for the interruption message
_CLI_PID: list = []  # the process of the `idg` command: jobs that run elsewhere raise their user errors


# An absolute config path: relative ones resolve against the calling module, which breaks `python -m idg`
# and the `idg` console script (Hydra then looks for a Python package named conf).
@hydra.main(config_path=str(REPO_ROOT / "conf"), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> Optional[float]:
    from hydra.core.hydra_config import HydraConfig

    from idg.report.console import quiet_libraries, verbose_requested

    verbose = verbose_requested()
    if not verbose:
        quiet_libraries()
    _scrub_hydra_outputs()
    run_dir, group, sweep = _hydra_context()
    _RUN_DIRS[:] = [cfg.get("run_dir") or run_dir]
    return run_app(cfg, run_dir=run_dir, group=group, sweep=sweep, overrides=list(HydraConfig.get().overrides.task),
                   verbose=verbose)


def describe_main(name: str, overrides: Sequence[str]) -> None:
    """``idg describe <group> [overrides]`` (also ``--help group=<group>``): one group's options and fields,
    with the values ``overrides`` compose to; bad input is one ``idg: error:`` paragraph, exit 2."""
    from idg.core.config.describe import compose_for_describe, describe
    from idg.core.errors import user_message

    try:
        text = describe(name, compose_for_describe(overrides))
    except Exception as exc:  # noqa: BLE001 - user errors (a bad name or override) are one paragraph
        message = user_message(exc)
        if message is None:
            raise
        exit_user_error(message)
    sys.stdout.write(text)


def main() -> Optional[float]:
    """The ``idg`` command and ``python -m idg.run``."""
    import hydra._internal.utils as hydra_utils

    from idg.core.config.describe import describe_request

    request = describe_request(sys.argv[1:])
    if request is not None:
        return describe_main(*request)

    # Hydra reports errors through this module-level function (private API, stable in Hydra 1.3, which
    # pyproject pins); swapping it is the only hook that sees compose errors before they are printed.
    from idg.core.errors import UserErrorEscape, full_error_requested, user_message

    from idg.report.console import expand_verbose_flag

    sys.argv[1:] = expand_verbose_flag(sys.argv[1:])
    hydra_utils.run_and_report = _report_errors
    _CLI_PID[:] = [os.getpid()]
    on_main_thread = threading.current_thread() is threading.main_thread()
    # Ctrl-C and SIGTERM raise at once and are also recorded, so a pipeline call stops at its next denoising
    # step even where the raised exception is lost (idg.core.interrupt).
    # A SIGINT that the parent set to be ignored (a background job) stays ignored.
    signals = [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) is signal.default_int_handler else [])
    previous = {s: signal.signal(s, interrupt.handle_signal) for s in signals} if on_main_thread else {}
    try:
        return hydra_main()
    except UserErrorEscape as exc:  # from a Hydra callback (idg.core.paths.OutputDirCheck)
        if full_error_requested():
            raise exc.error from None
        exit_user_error(user_message(exc.error))
    except KeyboardInterrupt as exc:
        if full_error_requested():
            raise
        where = f" in {_RUN_DIRS[0]}" if _RUN_DIRS else ""
        print(f"idg: interrupted ({'SIGTERM' if isinstance(exc, Terminated) else 'Ctrl-C'}); the finished work{where} "
              f"is kept: run the same command again (same hydra.run.dir) to resume", file=sys.stderr, flush=True)
        sys.exit(143 if isinstance(exc, Terminated) else 130)
    finally:
        hydra_utils.run_and_report = _hydra_run_and_report
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        interrupt.clear()


if __name__ == "__main__":
    main()
