"""``qbnn export-network``: network HDF5 -> bit-packed .npz or dependency-free C header."""
from __future__ import annotations

import argparse

HELP = "export a trained network bit-packed (uint64 words) as .npz or a C header with qbnn_predict()"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", help="±1 network HDF5 written by qbnn decode / train (train-mip networks have real weights: refused)")
    p.add_argument("--format", required=True, choices=["npz", "c-header"], help="output format")
    p.add_argument("--out", required=True, help="output file (.npz or .h)")
    p.add_argument("--prefix", default="qbnn",
                   help="c-header: prefix of every C symbol (default qbnn: qbnn_predict, QBNN_N_INPUTS); give each "
                        "network its own to include several in one program")


def run(args: argparse.Namespace) -> dict:
    import os

    from qbnn.export import check_packable, export_c_header, export_npz, model_sizes
    from qbnn.io import current_path
    from qbnn.topology import Network

    net = Network.load(args.network)
    check_packable(net, str(args.network))
    if args.format == "npz":
        export_npz(net, args.out)
    else:
        export_c_header(net, args.out, args.prefix)
    topo = net.topology
    return {"out": args.out, "format": args.format, "n_inputs": topo.n_inputs, "n_neurons": topo.n_neurons,
            "n_outputs": topo.n_outputs, "n_weights": topo.n_weights, **model_sizes(net),
            "file_bytes": os.path.getsize(current_path(args.out))}
