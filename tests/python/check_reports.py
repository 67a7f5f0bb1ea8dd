"""Reads a Spiegel release with pyarrow and DuckDB, as a municipality's analyst would, and
checks it against an independent count of the submissions it was made from.

usage: check_reports.py REPORTS_DIR SUBMISSIONS_DIR
Exit 0 when every check passes; prints what failed otherwise.
"""

import csv
import glob
import hashlib
import json
import os
import sys
from collections import defaultdict

import duckdb
import pyarrow.parquet as pq

reports, submissions = sys.argv[1], sys.argv[2]
manifest = json.load(open(os.path.join(reports, "manifest.json")))
failures = []

# 1. Every file reads in pyarrow, matches its manifest entry and carries only the allowed
#    metadata; aggregate reports have no provider column.
for entry in manifest["files"]:
    path = os.path.join(reports, entry["path"])
    data = open(path, "rb").read()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        failures.append(f"{entry['path']}: digest differs from the manifest")
    table = pq.read_table(path)
    if table.num_rows != entry["rows"]:
        failures.append(f"{entry['path']}: {table.num_rows} rows, manifest says {entry['rows']}")
    metadata = pq.read_metadata(path).metadata or {}
    keys = sorted(k.decode() for k in metadata)
    if keys != ["spiegel.release", "spiegel.schema_version"]:
        failures.append(f"{entry['path']}: key-value metadata {keys}")
    # A report is named by its own release id.
    release = metadata.get(b"spiegel.release", b"").decode()
    if not os.path.basename(entry["path"]).endswith(release + ".parquet") or not release:
        failures.append(f"{entry['path']}: release id {release} in its metadata")
    if entry["kind"] != "mirror" and "provider_id" in table.schema.names:
        failures.append(f"{entry['path']}: provider_id column in a {entry['kind']} report")

# 2. DuckDB reads every municipality report at once.
# The manifest is what a reader follows: it lists the files in force.
municipality_files = "[" + ", ".join(
    "'" + os.path.join(reports, f["path"]).replace("'", "''") + "'"
    for f in manifest["files"]
    if f["kind"] == "municipality"
) + "]"
rows = duckdb.sql(
    f"select count(*) from read_parquet({municipality_files}, hive_partitioning = false)"
).fetchall()[0][0]
expected_rows = sum(f["rows"] for f in manifest["files"] if f["kind"] == "municipality")
if rows != expected_rows:
    failures.append(f"DuckDB read {rows} municipality rows, manifest lists {expected_rows}")
published = duckdb.sql(
    f"""select period, municipality_code, numerator, status
        from read_parquet({municipality_files}, hive_partitioning = false)
        where indicator = 'youths_in_care' and dimension = 'total'"""
).fetchall()

# 3. An independent count of distinct children per municipality and period.
children = defaultdict(set)
for path in sorted(glob.glob(os.path.join(submissions, "*_*.csv"))):
    provider, period = os.path.basename(path)[:-4].split("_")
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.readline()
        f.seek(0)
        reader = csv.DictReader(f, delimiter=";" if sample.count(";") > sample.count(",") else ",")
        for row in reader:
            row = {k.lower(): v for k, v in row.items()}
            gemeente = row["gemeentecode"]
            gemeente = gemeente if gemeente.startswith("GM") else "GM" + gemeente.zfill(4)
            bsn = row["bsn"].zfill(9)
            if bsn in ("999999999", "000000000"):
                # Never linked: each trajectory is a child of its own.
                child = (provider, bsn, row["geslacht"], row["hulpvorm"], row["datum_aanvang"])
            else:
                child = bsn
            children[(period, gemeente)].add(child)

compared = 0
for period, gemeente, numerator, status in published:
    if status == "suppressed":
        continue
    exact = len(children[(period, gemeente)])
    compared += 1
    if abs(numerator - exact) > 4 or numerator % 5 != 0:
        failures.append(f"{period} {gemeente}: published {numerator}, counted {exact}")
if compared < 10:
    failures.append(f"only {compared} municipality totals to compare")

if failures:
    print("\n".join(failures[:50]))
    sys.exit(1)
print(f"ok: {len(manifest['files'])} files, {compared} municipality totals within ±4")
