"""Partitioned contract tables: datasets read piece by piece (for :mod:`sofeval.engines`).

A table given to :func:`open_study_dataset` may be

* one file (``.parquet``/``.pq`` or ``.csv``): one piece;
* a directory: every ``.parquet``/``.pq``/``.csv`` file below it. Hive directories
  ``key=value`` (as ``pyarrow.dataset.write_dataset`` and ``sofeval synth --format parquet
  --partition-by jobcentre`` write them; values percent-encoded) become columns, and the files
  of one hive partition, that is of the same key values, form one piece; without hive
  directories every file is a piece;
* a glob such as ``spells/*.parquet``: every matching file (hive keys parsed below the
  directory that precedes the first wildcard), grouped by hive partition as above.

Paths may be local or fsspec URLs (``s3://bucket/spells/``, ``gcs://...``, ``file://...``;
``storage_options`` go to the fsspec filesystem). Discovery runs once, where the dataset is
opened; a :class:`DatasetPiece` only names its files, so it travels cheaply to the process
that reads it (:meth:`DatasetPiece.read`). Pieces are ordered by their first file path, so the
order is the same on every machine.

Parquet pieces are read with ``pyarrow`` as ``pandas.read_parquet`` reads a file; CSV pieces
with :func:`sofeval.data.io.read_table` (ids and dates as text), a remote CSV file being copied
to a local temporary file first. Hive keys are added as columns (values typed as
``pyarrow.dataset`` infers them: integers when every value is one, else strings); a key that is
not a column of the contract table it partitions (say ``jobcentre`` on ``meetings``, written
there to keep a spell's meetings beside it) is left out of that table.

Programme and monitoring tables are small: :func:`open_study_dataset` reads them whole.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sofeval.data.contract import DATE_COLUMNS, REQUIRED_COLUMNS, StudyData
from sofeval.data.io import Source, read_table
from sofeval.data.validation import AUDIENCES, Audience, Invalid, validate_study
from sofeval.errors import ContractError, OptionError, check_option

__all__ = [
    "DATASET_SUFFIXES",
    "DatasetPiece",
    "StudyDataset",
    "TableDataset",
    "is_dataset_location",
    "open_study_dataset",
    "open_table_dataset",
]

#: File suffixes a dataset may hold, and their format.
DATASET_SUFFIXES: dict[str, str] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}

_GLOB_CHARS = frozenset("*?[")


def _filesystem(location: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    """Fsspec filesystem and the path inside it of a local path or URL."""
    import fsspec.core

    fs, path = fsspec.core.url_to_fs(str(location), **dict(storage_options or {}))
    return fs, str(path)


def _protocol(fs: Any) -> str:
    proto = fs.protocol
    return str(proto[0] if isinstance(proto, (tuple, list)) else proto)


def is_dataset_location(location: Source | None) -> bool:
    """Whether ``location`` names a dataset rather than one local file or a DataFrame.

    A directory, a glob or a URL (``scheme://``) is a dataset; a local file is not.
    """
    if location is None or isinstance(location, pd.DataFrame):
        return False
    text = str(location)
    if "://" in text or _GLOB_CHARS & set(text):
        return True
    return Path(text).is_dir()


@dataclass(frozen=True)
class DatasetPiece:
    """The files of one partition of a table (see the module docstring).

    Attributes
    ----------
    table
        Contract table name.
    files
        Paths inside the filesystem, sorted.
    keys
        Hive partition values ``(column, value)`` shared by the files.
    protocol
        fsspec protocol of the filesystem (``"file"`` for local paths).
    storage_options
        fsspec storage options, as ``(name, value)`` pairs.
    file_format
        ``"parquet"`` or ``"csv"``.
    """

    table: str
    files: tuple[str, ...]
    keys: tuple[tuple[str, Any], ...] = ()
    protocol: str = "file"
    storage_options: tuple[tuple[str, Any], ...] = ()
    file_format: str = "parquet"

    @property
    def label(self) -> str:
        """``key=value/...`` of the piece, or its first file name."""
        if self.keys:
            return "/".join(f"{k}={v}" for k, v in self.keys)
        return Path(self.files[0]).name if self.files else "(empty)"

    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The raw rows of the piece: its files in order, hive keys as columns.

        Parameters
        ----------
        columns
            Read only these columns (those present; Parquet files read nothing else).

        Returns
        -------
        pandas.DataFrame
            As :func:`sofeval.data.io.read_table` reads one file (validate it with
            :func:`sofeval.data.validation.validate_study`).
        """
        import fsspec

        fs = fsspec.filesystem(self.protocol, **dict(self.storage_options))
        frames = [self._read_file(fs, f, columns) for f in self.files]
        df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        own = set(REQUIRED_COLUMNS[self.table]) | set(DATE_COLUMNS[self.table])
        for key, value in self.keys:
            if key in df.columns:
                continue
            if self.table == "spells" or key in own:  # any spells column is a covariate
                df[key] = pd.Series([value] * len(df), index=df.index, dtype=object)
                if isinstance(value, int) and not isinstance(value, bool):
                    df[key] = df[key].astype("int64")
        return df if columns is None else df[[c for c in columns if c in df.columns]]

    def _read_file(self, fs: Any, path: str, columns: Sequence[str] | None) -> pd.DataFrame:
        if self.file_format == "parquet":
            import pyarrow.parquet as pq

            where = fs if self.protocol != "file" else None
            names = None
            if columns is not None:
                have = pq.read_schema(path, filesystem=where).names
                names = [c for c in columns if c in have]
            return pq.read_table(path, columns=names, filesystem=where).to_pandas()
        if self.protocol == "file":
            return read_table(path, self.table)
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, Path(path).name)
            fs.get(path, local)
            return read_table(local, self.table)


@dataclass(frozen=True)
class TableDataset:
    """A contract table stored as a dataset: its pieces (see :func:`open_table_dataset`).

    Attributes
    ----------
    table
        Contract table name.
    location
        The path, directory, glob or URL given.
    pieces
        The pieces, ordered by their first file.
    partition_columns
        Hive key names (empty when the files are not hive-partitioned).
    """

    table: str
    location: str
    pieces: tuple[DatasetPiece, ...]
    partition_columns: tuple[str, ...] = ()

    def read(self) -> pd.DataFrame:
        """Every piece concatenated in order (for small tables and for tests)."""
        frames = [p.read() for p in self.pieces]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def by_keys(self) -> dict[tuple[tuple[str, Any], ...], DatasetPiece]:
        """Pieces indexed by their hive keys."""
        return {p.keys: p for p in self.pieces}


def _list_files(fs: Any, path: str) -> tuple[list[str], str]:
    """Data files of a file, directory or glob, and the base directory of hive keys."""
    if _GLOB_CHARS & set(path):
        head = path[: min(path.index(c) for c in _GLOB_CHARS if c in path)]
        base = head if head.endswith("/") else head.rsplit("/", 1)[0]
        files = [str(f) for f in fs.glob(path)]
    elif fs.isdir(path):
        base = path
        files = [str(f) for f in fs.find(path)]
    else:
        base = path.rsplit("/", 1)[0]
        files = [path] if fs.exists(path) else []
    files = sorted(f for f in files if Path(f).suffix.lower() in DATASET_SUFFIXES)
    return files, base.rstrip("/")


def open_table_dataset(
    location: str | os.PathLike[str],
    table: str,
    storage_options: Mapping[str, Any] | None = None,
) -> TableDataset:
    """Discover the pieces of one table stored as a file, a directory or a glob.

    Parameters
    ----------
    location
        Local path or fsspec URL of a file, a directory (hive-partitioned or not) or a glob.
    table
        Contract table name.
    storage_options
        Options of the fsspec filesystem (credentials, endpoint, ...).

    Returns
    -------
    TableDataset

    Raises
    ------
    ContractError
        If no data file is found (rule ``missing_file``), or the files mix formats.
    """
    import pyarrow.dataset as ds

    check_option("table", table, tuple(REQUIRED_COLUMNS))
    fs, path = _filesystem(str(location), storage_options)
    files, base = _list_files(fs, path)
    if not files:
        raise ContractError(
            f"{table}: rule 'missing_file': no .parquet, .pq or .csv file found at "
            f"{str(location)!r}. Check the path.",
            table=table,
            rule="missing_file",
            rows=(str(location),),
        )
    formats = {DATASET_SUFFIXES[Path(f).suffix.lower()] for f in files}
    if len(formats) > 1:
        raise ContractError(
            f"{table}: the dataset at {str(location)!r} mixes CSV and Parquet files; keep one "
            "format per table.",
            table=table,
            rule="mixed_formats",
            rows=(str(location),),
        )
    fmt = formats.pop()
    discovered = ds.dataset(
        files,
        filesystem=fs,
        format=fmt,
        partitioning="hive",
        partition_base_dir=base,
        exclude_invalid_files=False,
    )
    groups: dict[tuple[tuple[str, Any], ...], list[str]] = {}
    names: list[str] = []
    for frag in discovered.get_fragments():
        keys = ds.get_partition_keys(frag.partition_expression)
        for k in keys:
            if k not in names:
                names.append(k)
        groups.setdefault(tuple(sorted(keys.items())), []).append(str(frag.path))
    if not names:  # no hive keys: every file is a piece of its own
        groups = {((("__file__", f),)): [f] for fl in groups.values() for f in fl}
    options = tuple(sorted(dict(storage_options or {}).items()))
    proto = _protocol(fs)
    pieces = sorted(
        (
            DatasetPiece(table, tuple(sorted(fl)), key if names else (), proto, options, fmt)
            for key, fl in groups.items()
        ),
        key=lambda p: p.files[0],
    )
    return TableDataset(table, str(location), tuple(pieces), tuple(names))


@dataclass(frozen=True)
class StudyDataset:
    """A study whose large tables are datasets (input of the dask engine).

    Attributes
    ----------
    spells
        The spells dataset; each piece is one partition of the distributed run.
    meetings, interventions
        Datasets of the child tables (``None``: not given). A child table hive-partitioned
        by the same keys as ``spells`` (:meth:`aligned`) is read piece by piece beside the
        spells piece of the same keys; the engine routes every row of any other child table
        to the partition of its spell.
    programme, monitoring
        The small tables, raw (read whole).
    invalid
        Validation mode of :func:`sofeval.data.validation.validate_study`.
    jobcentres
        Known jobcentre names (rule ``unknown_jobcentre``), or ``None``.
    audience
        Who reads the error messages: ``"python"`` (``invalid="drop"``) or ``"cli"``
        (``--invalid drop``), as in :func:`sofeval.data.validation.validate_study`.
    """

    spells: TableDataset
    meetings: TableDataset | None = None
    interventions: TableDataset | None = None
    programme: pd.DataFrame | None = None
    monitoring: pd.DataFrame | None = None
    invalid: Invalid = "error"
    jobcentres: tuple[str, ...] | None = field(default=None)
    audience: Audience = "python"

    @property
    def children(self) -> dict[str, TableDataset]:
        """The child tables given, by name."""
        out = {"meetings": self.meetings, "interventions": self.interventions}
        return {k: v for k, v in out.items() if v is not None}

    def aligned(self, table: str) -> bool:
        """Whether child ``table`` is hive-partitioned by the same keys as ``spells``."""
        keys = self.spells.partition_columns
        child = self.children.get(table)
        return bool(keys) and child is not None and set(child.partition_columns) == set(keys)

    @property
    def co_partitioned(self) -> bool:
        """Whether every child table given is hive-partitioned like ``spells``."""
        return all(self.aligned(t) for t in self.children)

    def load(self) -> StudyData:
        """Read every table whole and validate it (the in-process engine's input).

        Child columns that only repeat a hive key of their spells are left out, as in
        :meth:`DatasetPiece.read`.
        """
        return validate_study(
            self.spells.read(),
            self.meetings.read() if self.meetings is not None else None,
            self.interventions.read() if self.interventions is not None else None,
            self.programme,
            self.monitoring,
            invalid=self.invalid,
            jobcentres=self.jobcentres,
            audience=self.audience,
        )


def _small_table(source: Source | None, table: str, options: Mapping[str, Any] | None) -> Any:
    if source is None:
        return None
    if is_dataset_location(source):
        return open_table_dataset(str(source), table, options).read()
    return read_table(source, table)


def open_study_dataset(
    spells: str | os.PathLike[str],
    meetings: str | os.PathLike[str] | None = None,
    interventions: str | os.PathLike[str] | None = None,
    programme: Source | None = None,
    monitoring: Source | None = None,
    *,
    invalid: Invalid = "error",
    jobcentres: Sequence[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    audience: Audience = "python",
) -> StudyDataset:
    """Open the tables of a study as datasets (nothing but the small tables is read).

    Parameters
    ----------
    spells, meetings, interventions
        File, directory, glob or URL of each table (see the module docstring).
    programme, monitoring
        The small tables: a DataFrame, a file or a dataset location, read whole.
    invalid
        ``"error"`` or ``"drop"`` (see :func:`sofeval.data.validation.validate_study`).
    jobcentres
        Known jobcentre names, or ``None``.
    storage_options
        Options of the fsspec filesystem of every URL.
    audience
        ``"python"`` (default) or ``"cli"``: how error messages spell the fix.

    Returns
    -------
    StudyDataset
    """
    check_option("invalid", invalid, ("error", "drop"))
    check_option("audience", audience, AUDIENCES)
    if spells is None:
        raise OptionError("open_study_dataset: the spells table is required.")

    def child(source: str | os.PathLike[str] | None, table: str) -> TableDataset | None:
        return None if source is None else open_table_dataset(source, table, storage_options)

    return StudyDataset(
        spells=open_table_dataset(spells, "spells", storage_options),
        meetings=child(meetings, "meetings"),
        interventions=child(interventions, "interventions"),
        programme=_small_table(programme, "programme", storage_options),
        monitoring=_small_table(monitoring, "monitoring", storage_options),
        invalid=invalid,
        jobcentres=None if jobcentres is None else tuple(map(str, jobcentres)),
        audience=audience,
    )
