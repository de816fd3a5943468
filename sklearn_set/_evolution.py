"""Evolve-and-prune rules that change a layer's connectivity between epochs.

Each rule reads a layer's weights and topology, builds a new topology, and moves the
weights and momentum of the surviving connections along with them
(:meth:`SparseLayer.rewire`). All work is O(nnz) memory and vectorised: there is no
Python loop over connections.
"""

import numpy as np

from ._network import draw_weights
from ._topology import sample_free_positions

__all__ = ["set_keep_mask", "evolve_set", "evolve_network"]


def set_keep_mask(weights, zeta):
    """Which connections survive SET's removal step.

    As in the original SET, the fraction ``zeta`` of the negative weights closest to
    zero (the largest negatives) and the fraction ``zeta`` of the non-negative weights
    closest to zero (the smallest positives) are removed; the signs are treated
    separately so that the balance between them is kept.

    Parameters
    ----------
    weights : ndarray of shape (nnz,)
    zeta : float in (0, 1)

    Returns
    -------
    keep : ndarray of bool, shape (nnz,)
    """
    keep = np.ones(weights.shape[0], dtype=bool)
    negative = np.flatnonzero(weights < 0)
    non_negative = np.flatnonzero(weights >= 0)
    n_neg = int(zeta * negative.shape[0])
    n_pos = int(zeta * non_negative.shape[0])
    # zeta < 1 keeps every split strictly inside its array, as argpartition needs.
    if n_neg:
        split = negative.shape[0] - n_neg
        keep[negative[np.argpartition(weights[negative], split)[split:]]] = False
    if n_pos:
        keep[non_negative[np.argpartition(weights[non_negative], n_pos)[:n_pos]]] = False
    return keep


def evolve_set(layer, zeta, rng, regrow_init="zero"):
    """One SET step on ``layer``, in place: remove by magnitude, regrow at random.

    The number of connections is unchanged. Regrown connections take weights drawn by
    :func:`draw_weights` with ``regrow_init`` and start with zero momentum; they may
    land on positions removed in this same step, as in the original SET.

    Parameters
    ----------
    layer : SparseLayer
    zeta : float in (0, 1)
    rng : numpy.random.Generator
    regrow_init : str
        ``"zero"`` or a weight initialisation of :func:`draw_weights`.

    Returns
    -------
    n_rewired : int
        Number of connections removed (and regrown).
    """
    topology = layer.topology
    keep = set_keep_mask(layer.weights, zeta)
    n_removed = int(keep.shape[0] - np.count_nonzero(keep))
    if n_removed == 0:
        return 0
    keys = topology.keys()
    # Removed positions count as free, so there is always room to regrow.
    added = sample_free_positions(topology.n_in, topology.n_out, n_removed, rng, keys[keep])
    new_topology, source = topology.rewire(keep, added, keys=keys)
    new_weights = draw_weights(regrow_init, n_removed, layer.fan_in, rng, layer.weights.dtype)
    layer.rewire(new_topology, source, new_weights)
    return n_removed


def evolve_network(network, zeta, rng, regrow_init="zero"):
    """Apply :func:`evolve_set` to every layer; returns the connections rewired."""
    return sum(evolve_set(layer, zeta, rng, regrow_init) for layer in network.layers)
