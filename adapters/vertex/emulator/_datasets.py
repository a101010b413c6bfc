"""Datasets and the data items imported into them (CreateDataset, ImportData, GetDataset)."""

from __future__ import annotations

import copy
import csv
import json
from typing import Any

from . import _storage
from ._labels import validate_labels
from ._operations import TYPE_PREFIX, Operations
from ._runtime import Runtime
from ._wire import invalid, not_found


class Datasets:
    """Every dataset, by name, with what was imported into it."""

    def __init__(self, runtime: Runtime, operations: Operations) -> None:
        self._rt = runtime
        self._operations = operations
        self.docs: dict[str, dict[str, Any]] = {}
        #: Dataset name -> the ``importConfigs`` of every ImportData that completed on it, oldest first.
        self.imports: dict[str, list[dict[str, Any]]] = {}
        #: Dataset name -> its data items (identified as Vertex deduplicates them: by content / GCS path).
        self.data_items: dict[str, set[str]] = {}

    def create(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts creating a dataset; returns the operation."""
        self._rt.settle()
        if not body.get("displayName"):
            raise invalid("displayName is required")
        if not body.get("metadataSchemaUri"):
            raise invalid("metadataSchemaUri is required")
        labels = validate_labels(body.get("labels"))
        with self._rt.lock:
            name = f"{self._rt.canonical(parent)}/datasets/{self._rt.new_id()}"

            def apply(t: float) -> dict[str, Any]:
                doc = {**body, "name": name, "labels": labels, "createTime": self._rt.wall(t)}
                doc.update(updateTime=self._rt.wall(t), etag=f"emu-{name.rsplit('/', 1)[-1]}")
                self.docs[name] = doc
                return {"@type": TYPE_PREFIX + "Dataset", **copy.deepcopy(doc)}

            seconds = self._rt.config.lro_seconds.get("CreateDataset", 0.0)
            return self._operations.start(name, "CreateDatasetOperationMetadata", seconds, apply)

    def import_data(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts importing data items into a dataset (ImportData); returns the operation.

        The import configs are recorded in :attr:`imports`; the dataset's ``dataItemCount`` then counts
        the distinct items of every import file: the rows of a CSV or JSON Lines file that can be read
        locally (``bucket_map``), one per URI otherwise. A listed file that is missing from a mapped
        bucket fails the operation, as on Vertex.
        """
        self._rt.settle()
        configs = body.get("importConfigs")
        if not isinstance(configs, list) or not configs:
            raise invalid("importConfigs is required")
        for i, config in enumerate(configs):
            uris = ((config.get("gcsSource") or {}) if isinstance(config, dict) else {}).get("uris")
            if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
                raise invalid(f"importConfigs[{i}].gcsSource.uris is required")
            if not config.get("importSchemaUri"):
                raise invalid(f"importConfigs[{i}].importSchemaUri is required")
        configs = copy.deepcopy(configs)
        with self._rt.lock:
            key = self._rt.canonical(name)
            if key not in self.docs:
                raise not_found(name)

            def apply(t: float) -> dict[str, Any]:
                doc = self.docs.get(key)
                if doc is None:
                    raise not_found(key)
                items = {item for config in configs for item in self._import_items(config)}
                self.imports.setdefault(key, []).extend(copy.deepcopy(configs))
                known = self.data_items.setdefault(key, set())
                known |= items
                doc["dataItemCount"] = str(len(known))
                doc["updateTime"] = self._rt.wall(t)
                return {"@type": TYPE_PREFIX + "ImportDataResponse"}

            seconds = self._rt.config.lro_seconds.get("ImportData", 0.0)
            return self._operations.start(key, "ImportDataOperationMetadata", seconds, apply)

    def _import_items(self, config: dict[str, Any]) -> set[str]:
        items: set[str] = set()
        for uri in config["gcsSource"]["uris"]:
            paths = _storage.expand([uri], self._rt.config.bucket_map)
            if paths is None:  # not readable here (unmapped bucket): count the file as one item
                items.add(uri)
                continue
            if not paths:
                raise not_found(uri)
            for path in paths:
                if not path.is_file():
                    raise not_found(uri)
                try:
                    lines = path.read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError) as exc:
                    raise invalid(f"Cannot read import file {uri}: {exc}") from None
                items.update(_data_item(line) for line in lines)
        items.discard("")
        return items

    def render(self, name: str) -> dict[str, Any]:
        """The dataset's JSON (call with the lock held)."""
        return copy.deepcopy(self.docs[name])

    def get(self, name: str) -> dict[str, Any]:
        """Gets a dataset (404 if unknown or still being created)."""
        self._rt.settle()
        with self._rt.lock:
            doc = self.docs.get(self._rt.canonical(name))
            if doc is None:
                raise not_found(name)
            return copy.deepcopy(doc)


def _data_item(line: str) -> str:
    """What identifies the data item of one import-file line: its GCS path or content ("" for none)."""
    line = line.strip()
    if line.startswith("{"):
        try:
            doc = json.loads(line)
        except ValueError:
            return line
        if isinstance(doc, dict):
            for key in ("imageGcsUri", "videoGcsUri", "textGcsUri", "textContent"):
                if isinstance(doc.get(key), str):
                    return str(doc[key])
        return json.dumps(doc, sort_keys=True)
    # CSV: [ML_USE,]GCS_FILE_PATH[,LABEL...] (text may carry its content in place of the path).
    fields = next(csv.reader([line]), [])
    return next((f for f in fields if f.startswith("gs://")), line)
