"""What reaches the console from inside the stages: progress bars that start when the work does, and the
marker for log lines meant for the run's log file only.

The console shows one line per stage and per training (``idg.report.console``); details a person rarely
needs while watching (the init and data of each training, which files a stage read) are still logged, with
``extra=FILE_ONLY``: the console handler drops them and ``<run dir>/<job>.log`` keeps them.
"""

from __future__ import annotations

from typing import Optional

FILE_ONLY = {"console": False}  # logging ``extra``: the log file gets the record, the console does not


class LazyBar:
    """A tqdm bar opened at the first finished item, not before: the model load and the first batch's warm-up
    would otherwise count as work time and make the first ETAs minutes too long. Items finished before the
    bar opens are its ``initial`` count, so the rate comes from the items after them.

    ``enabled=None`` shows the bar only on a terminal (tqdm's rule); False never shows it."""

    def __init__(self, total: int, desc: str, unit: str = "img", enabled: Optional[bool] = None):
        self.total, self.desc, self.unit = total, desc, unit
        self.disable = None if enabled in (None, True) else True
        self.bar = None
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is None:
            from tqdm.auto import tqdm

            # disable passed explicitly: TQDM_DISABLE (set to quiet the libraries' bars) must not hide idg's own
            self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc, unit=self.unit, disable=self.disable,
                            dynamic_ncols=True)
        else:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "LazyBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
