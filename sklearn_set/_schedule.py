"""When a fit changes its topology, and by how much: plain functions of the fit's clock.

In the style of optax's schedules, nothing here holds state. :class:`Schedule` is
built once when a fit starts and answers two questions, "what fraction does evolution
rewire now?" and "does pruning run now?", as functions of the step counted from the
start of that fit. The fit loop keeps the count; nothing else (``n_iter_`` included)
decides when the topology changes.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["ZETA_SCHEDULES", "EVOLVE_UNITS", "Schedule", "zeta_at", "is_due"]

ZETA_SCHEDULES = ("constant", "cosine")
EVOLVE_UNITS = ("epoch", "batch")


def zeta_at(step, stop, zeta, schedule="constant"):
    """The fraction rewired at evolution time ``step`` (epochs or batches done).

    Zero from ``stop`` on. ``"cosine"`` decays from ``zeta`` towards 0 at ``stop``, as
    in RigL (Evci et al., 2020): ``zeta / 2 * (1 + cos(pi * step / stop))``.
    """
    if step >= stop:
        return 0.0
    if schedule == "constant":
        return zeta
    if schedule == "cosine":
        return 0.5 * zeta * (1.0 + np.cos(np.pi * step / stop))
    raise ValueError(f"Unknown zeta schedule {schedule!r}; expected one of {ZETA_SCHEDULES}.")


def is_due(epoch, start, every):
    """Whether a scheduled step runs after ``epoch`` (1-based).

    It runs after epoch ``start`` and then every ``every`` epochs.
    """
    return epoch >= start and (epoch - start) % every == 0


@dataclass(frozen=True)
class Schedule:
    """The evolve-and-prune schedule of one fit.

    Epochs and batches are counted from 1 at the start of the fit the schedule was
    built for, so that a warm-started fit evolves and prunes exactly as a first one.
    Nothing changes after the fit's last epoch (``n_epochs``): as in the original SET,
    the network that training ends with is not rewired.

    Parameters
    ----------
    n_epochs : int
        Epochs in the fit: the horizon of every rule.
    batches_per_epoch : int or None
        Batches in one epoch, the scale of a batch clock's horizon. ``None`` when
        epochs have no fixed size (``partial_fit``): batch-level evolution then takes
        the fraction of the epoch it falls in.
    zeta : float
        Fraction rewired by an evolution step at the start of the schedule.
    zeta_schedule : {"constant", "cosine"}
        How that fraction decays towards ``evolve_stop`` (see :func:`zeta_at`).
    evolve_unit : {"epoch", "batch"}
        Whether evolution runs between epochs or between batches.
    evolve_every : int
        Evolve every ``evolve_every`` epochs or batches.
    evolve_stop : float in (0, 1]
        Evolution stops after this fraction of the horizon.
    prune_start : int or None
        First epoch after which pruning runs; ``None`` for no pruning.
    prune_every : int
        Epochs between two pruning steps.
    prune_target : float in (0, 1)
        Fraction of the hidden neurons that the fit's pruning steps remove in all,
        spread geometrically over them (see :meth:`pruned_after_epoch`), so that the
        total does not depend on how many steps ``n_epochs`` holds.
    """

    n_epochs: int
    batches_per_epoch: int | None = None
    zeta: float = 0.3
    zeta_schedule: str = "constant"
    evolve_unit: str = "epoch"
    evolve_every: int = 1
    evolve_stop: float = 1.0
    prune_start: int | None = None
    prune_every: int = 10
    prune_target: float = 0.5

    def __post_init__(self):
        if self.evolve_unit not in EVOLVE_UNITS:
            raise ValueError(
                f"Unknown evolve_unit {self.evolve_unit!r}; expected one of {EVOLVE_UNITS}."
            )
        if self.zeta_schedule not in ZETA_SCHEDULES:
            raise ValueError(
                f"Unknown zeta schedule {self.zeta_schedule!r}; expected one of "
                f"{ZETA_SCHEDULES}."
            )

    def zeta_after_epoch(self, epoch):
        """ζ of the evolution step after epoch ``epoch`` of the fit; 0 when none runs."""
        if self.evolve_unit != "epoch" or epoch % self.evolve_every:
            return 0.0
        return self._zeta(epoch, self.n_epochs)

    def zeta_after_batch(self, epoch, batch):
        """ζ of the evolution step after batch ``batch`` of the fit, which falls in
        epoch ``epoch``; 0 when none runs."""
        if self.evolve_unit != "batch" or batch % self.evolve_every:
            return 0.0
        if self.batches_per_epoch is None:
            return self._zeta(epoch - 1, self.n_epochs)
        return self._zeta(batch, self.n_epochs * self.batches_per_epoch)

    def prune_after_epoch(self, epoch):
        """Whether importance pruning runs after epoch ``epoch`` of the fit."""
        if self.prune_start is None or epoch >= self.n_epochs:
            return False
        return is_due(epoch, self.prune_start, self.prune_every)

    @property
    def n_prune_steps(self):
        """Pruning steps in the fit: after ``prune_start``, every ``prune_every`` epochs,
        before the last epoch."""
        if self.prune_start is None or self.prune_start >= self.n_epochs:
            return 0
        return (self.n_epochs - 1 - self.prune_start) // self.prune_every + 1

    def pruned_after_epoch(self, epoch):
        """Fraction of the fit's starting hidden neurons removed once the pruning step
        after ``epoch`` is done (0 before the first step).

        Step ``m`` of ``k`` leaves ``(1 - prune_target) ** (m / k)`` of the neurons:
        each step removes the same share of those left, and the last reaches the
        target.
        """
        if self.prune_start is None or epoch < self.prune_start:
            return 0.0
        done = min((epoch - self.prune_start) // self.prune_every + 1, self.n_prune_steps)
        return 1.0 - (1.0 - self.prune_target) ** (done / self.n_prune_steps)

    def _zeta(self, step, horizon):
        return zeta_at(step, self.evolve_stop * horizon, self.zeta, self.zeta_schedule)
