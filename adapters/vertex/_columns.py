"""Reading a tabular dataset's column names from its CSV header (local, ``file://`` or ``gs://``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from adapters._errors import SpecError

_HEADER_BYTES = 1 << 16


def read_csv_header(uri: str, timeout: float = 30.0) -> list[str]:
    """Column names from the first line of a CSV (a local path, ``file://`` or ``gs://``).

    Raises SpecError -- never hangs -- when the header cannot be read.
    """
    if uri.startswith("bq://"):
        raise SpecError(
            f"cannot read column names from BigQuery table {uri!r} without a BigQuery client; "
            "list them in config.column_names or give explicit config.transformations"
        )
    try:
        if uri.startswith("gs://"):
            from checkpoint import Workspace  # fsspec + gcsfs, with an install hint when missing

            bucket_path = uri[len("gs://") :]
            ws = Workspace(f"gs://{bucket_path.rsplit('/', 1)[0]}", storage_options={"timeout": timeout})
            head = ws.read_range(bucket_path.rsplit("/", 1)[1], 0, _HEADER_BYTES)
        else:
            path = Path(uri[len("file://") :] if uri.startswith("file://") else uri)
            with open(path, "rb") as f:
                head = f.read(_HEADER_BYTES)
    except SpecError:
        raise
    except Exception as exc:
        raise SpecError(
            f"cannot read the CSV header of {uri!r} ({exc}); list the columns in config.column_names"
        ) from exc
    first = head.decode("utf-8-sig", errors="replace").splitlines()[:1]
    columns = next(csv.reader(io.StringIO(first[0]))) if first else []
    if not columns or not all(c.strip() for c in columns):
        raise SpecError(f"{uri!r} has no usable CSV header line; list the columns in config.column_names")
    return [c.strip() for c in columns]
