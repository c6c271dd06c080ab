"""Engines beyond one process: the dask engine of ``sofeval run`` and its parts.

The part of a run that grows with the data is map-reduce by nature: cells are sums over
spells, and every model is fitted on cells. The dask engine computes the cells (and the counts
the monitoring needs) partition by partition on a ``distributed`` cluster, adds them up in a
tree, and fits, bootstraps and reports on the client (docs/cluster.md).

Modules, from the client down to one partition:

* :mod:`~sofeval.engines.dask_engine` -- :func:`run_dask`, the analyses of ``sofeval run``;
* :mod:`~sofeval.engines.reduce` -- :func:`reduce_study`, the passes over the partitions;
* :mod:`~sofeval.engines.assemble` -- the whole study on the client (:class:`ReducedStudy`);
* :mod:`~sofeval.engines.session` -- the client (:func:`dask_client`), tree reduction, mapping;
* :mod:`~sofeval.engines.validate` -- first pass over a partition (validation, keys);
* :mod:`~sofeval.engines.summaries` -- second pass (cells and counts) and :func:`combine`;
* :mod:`~sofeval.engines.partitions` -- one partition's tables, read and validated;
* :mod:`~sofeval.engines.crosscheck` -- contract rules that span partitions (on hashes);
* :mod:`~sofeval.engines.covariates` -- covariate bins shared by every partition;
* :mod:`~sofeval.engines.monitoring` -- success criteria and meeting shares from counts.

``dask`` and ``distributed`` come with the ``dask`` extra (``pip install "sofeval[dask]"``).
"""

from __future__ import annotations

from sofeval.engines.assemble import ReducedStudy
from sofeval.engines.covariates import CovariateBins
from sofeval.engines.crosscheck import (
    MAX_BUCKETS,
    CrossFlags,
    SpellKeys,
    cross_partition_flags,
    id_hashes,
    spell_keys,
)
from sofeval.engines.dask_engine import DaskRun, run_dask
from sofeval.engines.monitoring import (
    MEASURE_WEEKS,
    measure_counts,
    meeting_counts,
    meeting_shares_from_counts,
    success_criteria_from_counts,
)
from sofeval.engines.partitions import SmallTables, split_study
from sofeval.engines.reduce import reduce_study
from sofeval.engines.session import (
    DEFAULT_WORKERS,
    FAN_IN,
    dask_client,
    map_on_client,
    tree_reduce,
)
from sofeval.engines.summaries import (
    SPELL_KEYS,
    PartSummary,
    ReducePlan,
    combine,
    summarise_part,
    summarise_study,
)
from sofeval.engines.validate import check_part, raw_dates

__all__ = [
    "DEFAULT_WORKERS",
    "FAN_IN",
    "MAX_BUCKETS",
    "MEASURE_WEEKS",
    "SPELL_KEYS",
    "CovariateBins",
    "CrossFlags",
    "DaskRun",
    "PartSummary",
    "ReducePlan",
    "ReducedStudy",
    "SmallTables",
    "SpellKeys",
    "check_part",
    "combine",
    "cross_partition_flags",
    "dask_client",
    "id_hashes",
    "map_on_client",
    "measure_counts",
    "meeting_counts",
    "meeting_shares_from_counts",
    "raw_dates",
    "reduce_study",
    "run_dask",
    "spell_keys",
    "split_study",
    "success_criteria_from_counts",
    "summarise_part",
    "summarise_study",
    "tree_reduce",
]
