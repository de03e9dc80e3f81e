"""A similarity graph of PE samples (ssdeep scores, the server's similarity_graph stream) written as a PNG image.

Nodes are samples, edges join pairs whose ssdeep score reaches --min-score (default 25). meta_deep runs over
every sample first, so each one's fuzzy hash is stored (and indexed) before the server builds the edges from
its ssdeep index: one index query per sample, each pair sent once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

from workbench.clients import client_helper as ch


def similarity_edges(stream: Iterable[dict]) -> list[dict]:
    """Undirected edges {a, b, score} from similarity_graph's {source, target, score}, strongest first."""
    best = {tuple(sorted((e["source"], e["target"]))): e["score"] for e in stream}
    return [{"a": a, "b": b, "score": s} for (a, b), s in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))]


def draw(graph: nx.Graph, labels: dict[str, str], path: Path) -> None:
    """The connected samples, edge width by score, saved as an image (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 8))
    if graph.number_of_edges():
        layout = nx.spring_layout(graph, seed=7, k=0.8)
        widths = [1 + 4 * (graph.edges[e]["score"] / 100) for e in graph.edges]
        nx.draw_networkx_edges(graph, layout, ax=axes, width=widths, edge_color="#888888")
        nx.draw_networkx_nodes(graph, layout, ax=axes, node_size=500, node_color="#4c72b0")
        nx.draw_networkx_labels(graph, layout, {n: labels[n] for n in graph.nodes}, ax=axes, font_size=8)
        nx.draw_networkx_edge_labels(graph, layout, nx.get_edge_attributes(graph, "score"), ax=axes, font_size=7)
    else:
        axes.text(0.5, 0.5, "no similar pairs", ha="center", va="center")
    axes.set_title(f"PE similarity (ssdeep): {graph.number_of_edges()} similar pairs among "
                   f"{graph.number_of_nodes()} samples")
    axes.axis("off")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Upload PATHs (or take the stored exe samples), compute similarities, write the graph, print the pairs."""
    parser = ch.client_parser(__doc__.split("\n\n")[0])
    ch.add_sample_args(parser, "exe")
    parser.add_argument("--out", type=Path, default=Path("pe_sim_graph.png"), help="image file (default %(default)s)")
    parser.add_argument("--min-score", type=int, default=25, help="drop pairs scoring below this (0-100)")
    args = parser.parse_args(argv)
    client = ch.connect_from_args(args)
    names = {s["md5"]: s["filename"] for s in ch.samples_from_args(client, args, "exe")}
    for _ in ch.batch_results(client, "meta_deep", md5_list=list(names), subkeys=["meta_deep.ssdeep"]):
        pass  # every fuzzy hash stored before the comparisons
    stream = client.similarity_graph({"md5_list": list(names), "threshold": args.min_score, "batch_size": 500})
    edges = similarity_edges(ch.flatten(stream))
    graph = nx.Graph()
    graph.add_weighted_edges_from(((e["a"], e["b"], e["score"]) for e in edges), weight="score")
    draw(graph, {m: m[:8] for m in names}, args.out)
    rows = [{**e, "a_name": names[e["a"]], "b_name": names[e["b"]]} for e in edges]
    if args.json:
        ch.print_json({"image": str(args.out), "samples": len(names), "nodes": sorted(graph.nodes), "edges": rows})
    else:
        named = any(names[m] != m for e in edges for m in (e["a"], e["b"]))  # filenames that say more than md5s
        ch.print_table(rows, ["score", "a", "b", *(["a_name", "b_name"] if named else [])])
        print(f"\n{len(names)} samples, {len(edges)} similar pairs; graph written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(ch.run_client(main))
