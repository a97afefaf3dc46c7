"""`python -m designspace.describe model=RegNetY-800MF`: a readable table of one network."""

from __future__ import annotations

from typing import Any

from designspace.net import blocks, zoo
from designspace.net.complexity import Complexity, complexity, complexity_breakdown, format_count
from designspace.net.spec import DEFAULT_BLOCK, NetSpec
from designspace.util.tables import text_table


def describe(spec: NetSpec, resolution: int = 224, title: str = "") -> str:
    """Per-stage table (depth, width, b, group width, groups, SE width, output size, cost) and totals.

    The b .. se_w cells come from the block type (`designspace.net.blocks`; '-' where it takes only widths).
    """
    block = blocks.get(spec.block)
    header = ["part", "depth", "width", "b", "group_w", "groups", "se_w", "out", "flops", "params", "acts"]
    rows = []
    h = (resolution - 1) // spec.stem_stride + 1
    parts = dict(complexity_breakdown(spec, resolution))

    def cost(cx: Complexity) -> list[str]:
        return [format_count(cx.flops, "flops"), format_count(cx.params, "params"), format_count(cx.acts, "acts")]

    rows.append(["stem", "1", str(spec.stem_width), "-", "-", "-", "-", f"{h}x{h}", *cost(parts["stem"])])
    w_in = spec.stem_width
    for i in range(spec.num_stages):
        h = (h - 1) // 2 + 1
        d, w, b, g = spec.depths[i], spec.widths[i], spec.bottleneck_ratios[i], spec.group_widths[i]
        rows.append([f"stage{i + 1}", str(d), str(w), *block.cells(w_in, w, b, g, spec.se_ratio), f"{h}x{h}",
                     *cost(parts[f"stage{i + 1}"])])
        w_in = w
    rows.append(["head", "-", str(spec.num_classes), "-", "-", "-", "-", "1x1", *cost(parts["head"])])
    total = complexity(spec, resolution)
    rows.append(["total", str(spec.total_depth), "", "", "", "", "", "", *cost(total)])
    lines = [title] if title else []
    lines.append(text_table(header, rows))
    lines.append(
        f"\n{format_count(total.flops, 'flops')}, {format_count(total.params, 'params')} params, "
        f"{format_count(total.acts, 'acts')} acts  (exact: {total.flops:,} flops = multiply-adds, "
        f"{total.params:,} params, {total.acts:,} acts at {resolution}x{resolution})"
    )
    if spec.block != DEFAULT_BLOCK:
        lines.append(f"block: {block.name} - {block.summary}")
    if spec.se_ratio:
        lines.append(f"se_w: squeeze-excitation width of the first/other blocks (ratio {spec.se_ratio:g} of block input)")
    return "\n".join(lines)


def describe_zoo(resolution: int = 224) -> str:
    """The 24 published models: generator parameters and exact complexity at `resolution`."""
    rows = []
    for name in zoo.names():
        e, cx = zoo.entry(name), complexity(zoo.get(name), resolution)
        rows.append([name, str(e.depth), str(e.w0), f"{e.wa:.2f}", f"{e.wm:.2f}", str(e.group_width),
                     format_count(cx.flops, "flops"), format_count(cx.params, "params"), format_count(cx.acts, "acts")])
    return text_table(["model", "d", "w0", "wa", "wm", "g", "flops", "params", "acts"], rows)


def export_yaml(spec: NetSpec, target: str, source: Any = None) -> str:
    """`spec` in pycls's or timm's form (`designspace.net.export`) as YAML; `source` (a zoo name or a sampled
    row) gives the RegNet generator parameters where it has them, for pycls's REGNET / timm's RegNetCfg form."""
    import yaml

    from designspace.net import export

    regnet = export.regnet_params(source, spec) if source is not None else None
    form = export.to_pycls(spec, regnet) if target == "pycls" else export.to_timm(spec, regnet)
    return yaml.safe_dump(form, sort_keys=False)
