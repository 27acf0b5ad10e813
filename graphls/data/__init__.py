"""Datasets: ``load_dataset(name, root, split)``, label noise and the dataset registry.

Every dataset is read by its own PyG class (``Planetoid``, ``WebKB``, ``Actor``,
``WikipediaNetwork``, ``HeterophilousGraphDataset``, ``LINKXDataset``,
``Amazon``, ``Coauthor``) or by OGB's ``PygNodePropPredDataset``; the only
exception is the filtered chameleon/squirrel of Platonov et al., which have no
PyG class and are read straight from their ``.npz`` (nothing is written).
``load_dataset`` returns one PyG ``Data`` with 1-D boolean ``train_mask``,
``val_mask`` and ``test_mask``, 1-D int64 ``y`` and the attributes
``num_classes``, ``name`` and ``split`` (plus ``split_index`` for shipped
fixed splits and BernNet's, ``split_seed`` for seeded random ones).

Splits (``split=None`` picks the dataset's own, the first listed in
``DATASETS[name].splits``): ``"public"`` (Planetoid's), ``"official"`` (OGB's),
``"fixed"`` (the 10 shipped with the data), ``"random"`` (seeded, per class,
sparse), ``"dense"`` (seeded 60/20/20) and ``"bernnet"`` (the 10 random
60/20/20 splits of BernNet and PosteL); :mod:`graphls.data.splits` says
exactly how each is built. ``"bernnet"`` puts a class smaller than its
per-class training quota ``round(0.6 N / C)`` wholly into training, so it is
in no validation or test set: Cora's classes 1 and 6 (14.7 % of the nodes)
and CiteSeer's class 0 (7.9 %) are never tested under it.

LINKX's Facebook100 graphs (Amherst41, JohnsHopkins55) label some nodes
``-1`` (gender unknown). Those nodes are in no mask; their ``y`` is set to 0 so
that losses accept the tensor, and the original labels are kept in
``data.y_raw``.

Where the files live: ``root`` (the argument), else ``$GRAPHLS_DATA``, else
``~/.cache/graphls``, in the folder layout of the PyG class (``DATASETS[name]
.files`` lists every file expected under ``root/<subdir>``). Present files are
never downloaded again. Missing files are downloaded by PyG/OGB when the
folder is writable; if that fails, a single :class:`DatasetNotFoundError` says
which files to put where. A read-only root is never written to: its dataset
folder is copied once to ``~/.cache/graphls/copies/`` and loaded from there.
``copy_datasets(source)`` copies a folder of raw files (``../shared/datasets``)
into the root, where every later call finds them without being told.

The modules, one concept each (arrows point to what a module imports)::

    registry  DatasetInfo, DATASETS, aliases, name lookup
    files     roots, folders, writable copies, DatasetNotFoundError -> registry
    splits    the split protocols                                    -> registry
    ogb       opening with OGB's class, ogb_evaluate (ogb imported lazily)
    loading   load_dataset, list_datasets, copy_datasets -> registry, files, splits, ogb
    noise     add_label_noise

Importing this package imports neither torch nor PyG nor OGB; they are
imported by the functions that use them.
"""

from __future__ import annotations

from graphls.data.files import DatasetNotFoundError, resolve_root
from graphls.data.loading import copy_datasets, list_datasets, load_dataset
from graphls.data.noise import add_label_noise
from graphls.data.ogb import ogb_evaluate
from graphls.data.registry import DATASETS, DatasetInfo

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotFoundError",
    "add_label_noise",
    "copy_datasets",
    "list_datasets",
    "load_dataset",
    "ogb_evaluate",
    "resolve_root",
]
