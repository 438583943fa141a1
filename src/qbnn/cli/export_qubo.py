"""``qbnn export-qubo``: QUBO HDF5 -> dimod BQM JSON or plain COO text."""
from __future__ import annotations

import argparse

HELP = "export a QUBO file as dimod BQM JSON (BINARY) or COO text (i j value)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("qubo", help="QUBO HDF5 written by qbnn compile")
    p.add_argument("--format", required=True, choices=["bqm-json", "coo"], help="output format")
    p.add_argument("--out", required=True, help="output file")


def run(args: argparse.Namespace) -> dict:
    from qbnn.qubo import export_bqm_json, export_coo
    from qbnn.qubo import QUBO

    q = QUBO.load(args.qubo)
    if args.format == "bqm-json":
        export_bqm_json(q, args.out)
    else:
        export_coo(q, args.out)
    return {"out": args.out, "format": args.format, "variables": q.num_variables,
            "interactions": q.num_interactions, "offset": q.offset}
