"""``-o yaml``: the same document as ``-o json``, as YAML."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from svcdoctor.render import json_format
from svcdoctor.render.interface import RenderOptions
from svcdoctor.report import Report


def _dump(document: Any) -> str:
    # Round-trip through JSON so enums and refs become plain strings first.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter is some 10× faster
    return yaml.dump(json.loads(json.dumps(document, default=str)), Dumper=dumper, sort_keys=False,
                     allow_unicode=True)


def render(report: Report, options: RenderOptions) -> str:
    return _dump(json_format.document(report, options))


def render_scan(reports: Sequence[Report], options: RenderOptions) -> str:
    return _dump(json_format.scan_document(reports, options))
