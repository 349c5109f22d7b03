#!/usr/bin/env python3
"""DATA-4: checks the platform's open data with the tools an open-data
portal uses, from PyPI (requirements.txt): the DCAT catalogue parsed as
JSON-LD by rdflib, and each dataset's CSV validated against its Table
Schema by frictionless.

    check.py BASE_URL
        Harvests BASE_URL/opendata/catalog.jsonld as a portal would: every
        dataset must carry the DCAT properties below, and every CSV
        distribution must validate against the schema it `conformsTo`.
    check.py --files SCHEMA.json DATA.csv
        Validates one CSV file against one schema (to show the check fails
        on a bad file).

Prints a JSON report on stdout; exits 1 when anything is wrong.
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.request
from pathlib import Path

import rdflib
from frictionless import Resource, Schema
from rdflib.namespace import DCTERMS, FOAF, RDF

DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")

# What a harvester (data.gouv.fr, DCAT-AP) reads of each dataset.
DATASET_PROPERTIES = {
    "title": DCTERMS.title,
    "description": DCTERMS.description,
    "keyword": DCAT.keyword,
    "license": DCTERMS.license,
    "publisher": DCTERMS.publisher,
    "accrualPeriodicity": DCTERMS.accrualPeriodicity,
    "modified": DCTERMS.modified,
    "distribution": DCAT.distribution,
}
DISTRIBUTION_PROPERTIES = {
    "downloadURL": DCAT.downloadURL,
    "accessURL": DCAT.accessURL,
    "mediaType": DCAT.mediaType,
    "license": DCTERMS.license,
}
CSV_TYPE = rdflib.URIRef("http://www.iana.org/assignments/media-types/text/csv")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def validate(schema: dict, csv_path: Path) -> dict:
    resource = Resource(path=csv_path.name, basepath=str(csv_path.parent),
                        schema=Schema.from_descriptor(schema))
    report = resource.validate()
    task = report.tasks[0] if report.tasks else None
    errors = [f"{e.type}: {e.message}" for e in report.flatten_errors()] if hasattr(report, "flatten_errors") else []
    if not errors and not report.valid:
        errors = [str(e) for e in report.errors] + [
            f"{e.type}: {e.message}" for t in report.tasks for e in t.errors]
    return {
        "valid": report.valid,
        "rows": task.stats.get("rows") if task and task.stats else None,
        "errors": errors[:20],
    }


def check_catalog(base: str) -> dict:
    url = f"{base}/opendata/catalog.jsonld"
    graph = rdflib.Graph()
    graph.parse(data=fetch(url), format="json-ld", publicID=url)
    problems: list[str] = []
    catalogs = list(graph.subjects(RDF.type, DCAT.Catalog))
    if len(catalogs) != 1:
        problems.append(f"{len(catalogs)} dcat:Catalog, expected 1")
    report = {"triples": len(graph), "datasets": {}, "problems": problems}
    if not catalogs:
        return report
    catalog = catalogs[0]
    for p in (DCTERMS.title, DCTERMS.publisher, DCTERMS.license):
        if graph.value(catalog, p) is None:
            problems.append(f"catalog without {p}")
    publisher = graph.value(catalog, DCTERMS.publisher)
    if publisher is None or graph.value(publisher, FOAF.name) is None:
        problems.append("publisher without foaf:name")
    for dataset in graph.objects(catalog, DCAT.dataset):
        ident = str(graph.value(dataset, DCTERMS.identifier))
        entry: dict = {"problems": []}
        report["datasets"][ident] = entry
        if (dataset, RDF.type, DCAT.Dataset) not in graph:
            entry["problems"].append("not a dcat:Dataset")
        for name, p in DATASET_PROPERTIES.items():
            if graph.value(dataset, p) is None:
                entry["problems"].append(f"no {name}")
        entry["keywords"] = sorted(str(k) for k in graph.objects(dataset, DCAT.keyword))
        entry["license"] = str(graph.value(dataset, DCTERMS.license))
        entry["periodicity"] = str(graph.value(dataset, DCTERMS.accrualPeriodicity))
        temporal = graph.value(dataset, DCTERMS.temporal)
        if temporal is not None:
            entry["temporal"] = [str(graph.value(temporal, DCAT.startDate)),
                                 str(graph.value(temporal, DCAT.endDate))]
        csvs = [d for d in graph.objects(dataset, DCAT.distribution)
                if graph.value(d, DCAT.mediaType) == CSV_TYPE]
        if len(csvs) != 1:
            entry["problems"].append(f"{len(csvs)} CSV distributions, expected 1")
            continue
        distribution = csvs[0]
        for name, p in DISTRIBUTION_PROPERTIES.items():
            if graph.value(distribution, p) is None:
                entry["problems"].append(f"CSV distribution without {name}")
        schema_url = graph.value(distribution, DCTERMS.conformsTo)
        download = graph.value(distribution, DCAT.downloadURL)
        if schema_url is None or download is None:
            entry["problems"].append("CSV distribution without conformsTo or downloadURL")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "data.csv"
            path.write_bytes(fetch(str(download)))
            schema = json.loads(fetch(str(schema_url)))
            entry["csv"] = validate(schema, path)
            entry["csv"]["header"] = path.read_text(encoding="utf-8").split("\n", 1)[0]
        if not entry["csv"]["valid"]:
            entry["problems"].append("CSV does not validate against its schema")
    return report


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--files":
        schema = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
        report = validate(schema, Path(sys.argv[3]).resolve())
        print(json.dumps(report, ensure_ascii=False))
        return 0 if report["valid"] else 1
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    report = check_catalog(sys.argv[1].rstrip("/"))
    print(json.dumps(report, ensure_ascii=False))
    bad = report["problems"] or any(d["problems"] for d in report["datasets"].values())
    return 1 if bad or not report["datasets"] else 0


if __name__ == "__main__":
    sys.exit(main())
