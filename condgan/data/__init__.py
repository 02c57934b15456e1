"""The data layer (docs/methods.md §8): one module per source, all registered in `DATASETS`, and
`load_dataset`, which applies the common DataConfig options to a source's split.

    from condgan.data import load_dataset
    train = load_dataset(cfg.data, "train")   # ImageData: images, labels, class_names, multi_label

Adding a source: a module with `@DATASETS.register("name")` (plus `@source_info(...)` so config
validation knows its classes / attributes), imported below.
"""

from condgan.data.base import DATASETS, ImageData
from condgan.data.pipeline import load_dataset, validate_data_config

# Imported for their registrations.
from condgan.data import cifar10, digit_pairs, digits, fashion_mnist, folder, mnist, synthetic  # noqa: F401,E402

__all__ = ["DATASETS", "ImageData", "load_dataset", "validate_data_config"]
