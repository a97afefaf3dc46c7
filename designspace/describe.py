"""`python -m designspace.describe model=RegNetY-800MF`: a readable table of one network."""

from __future__ import annotations

from designspace import blocks, zoo
from designspace.complexity import Complexity, complexity, complexity_breakdown, format_count
from designspace.spec import DEFAULT_BLOCK, NetSpec


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def describe(spec: NetSpec, resolution: int = 224, title: str = "") -> str:
    """Per-stage table (depth, width, b, group width, groups, SE width, output size, cost) and totals.

    The b .. se_w cells come from the block type (`designspace.blocks`; '-' where it takes only widths).
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
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
    lines = [title] if title else []
    lines += [_row(header, widths), "  ".join("-" * w for w in widths)]
    lines += [_row(r, widths) for r in rows]
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
    lines = [f"{'model':16} {'d':>3} {'w0':>4} {'wa':>7} {'wm':>5} {'g':>4}  {'flops':>9} {'params':>8} {'acts':>8}"]
    for name in zoo.names():
        e, cx = zoo.entry(name), complexity(zoo.get(name), resolution)
        lines.append(
            f"{name:16} {e.depth:3d} {e.w0:4d} {e.wa:7.2f} {e.wm:5.2f} {e.group_width:4d}  "
            f"{format_count(cx.flops, 'flops'):>9} {format_count(cx.params, 'params'):>8} {format_count(cx.acts, 'acts'):>8}"
        )
    return "\n".join(lines)


def main() -> None:
    import hydra
    from omegaconf import DictConfig

    @hydra.main(version_base="1.3", config_path="pkg://designspace.configs", config_name="describe")
    def run(cfg: DictConfig) -> None:
        if cfg.list:
            print(describe_zoo(cfg.resolution))
            return
        from designspace.usage import exit_usage

        try:
            if not isinstance(cfg.resolution, int) or isinstance(cfg.resolution, bool) or cfg.resolution < 1:
                raise ValueError(f"resolution={cfg.resolution!r} must be a positive integer (pixels)")
            spec = zoo.get(cfg.model, num_classes=cfg.num_classes, stem_stride=cfg.stem_stride,
                           in_channels=cfg.in_channels)
            e = zoo.entry(cfg.model)
            title = (f"{e.name}: d={e.depth} w0={e.w0} wa={e.wa} wm={e.wm} g={e.group_width}"
                     f"{' SE=' + format(e.se_ratio, 'g') if e.se_ratio else ''}  "
                     f"({cfg.resolution}x{cfg.resolution}, {cfg.num_classes} classes)\n")
            text = describe(spec, cfg.resolution, title)
        except (KeyError, ValueError) as exc:
            exit_usage("describe", ValueError(exc.args[0]))
        print(text)

    run()


if __name__ == "__main__":
    main()
