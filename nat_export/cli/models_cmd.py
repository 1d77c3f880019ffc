"""`nat-export models`: the built-in variants, one per published classification checkpoint."""

from __future__ import annotations

from .args import add_force_arg, add_json_arg, check_json_target, write_json


def add_parser(sub):
    p = sub.add_parser(
        "models",
        help="list the built-in NAT / DiNAT variants (every published classification checkpoint)",
        description=(
            "List the built-in variants: parameter count, resolution, kernel, dilations, classes, the HF hub id "
            "(--from-pretrained) and the original SHI-Labs file (--weights FILE --model NAME), and the evaluation "
            "recipe recorded when no preprocessor_config.json says otherwise."
        ),
        epilog="examples:\n  nat-export models\n  nat-export models --json -\n  nat-export models --json models.json",
    )
    add_json_arg(p, "the list instead of a table")
    add_force_arg(p, "the --json file")
    p.set_defaults(run=run)


def variant_rows() -> list[dict]:
    import torch

    from ..models import NAT, VARIANTS

    rows = []
    for v in VARIANTS.values():
        with torch.device("meta"):
            params = sum(p.numel() for p in NAT(v.config).parameters())
        c = v.config
        rows.append(
            dict(
                name=v.name,
                kind=c.kind,
                params=params,
                resolution=v.resolution,
                embed_dim=c.embed_dim,
                depths=list(c.depths),
                num_heads=list(c.num_heads),
                kernel_size=c.kernel_size,
                dilations=[max(d) for d in c.dilations] if c.dilations else None,
                layer_scale=c.layer_scale is not None,
                num_classes=c.num_classes,
                pretrain=v.pretrain,
                hub_id=v.hub_id,
                file=v.file,
                url=v.url,
                preprocessing=v.preprocessing.to_dict(),
            )
        )
    return rows


def run(args) -> int:
    check_json_target(args)
    rows = variant_rows()
    if args.json:
        write_json(args, rows)
        return 0
    from rich.table import Table

    from .console import wide_console

    t = Table(title="nat-export built-in models")
    for col in ("name", "params", "res", "depths", "kernel", "dilations", "classes", "crop"):
        t.add_column(col, no_wrap=True)
    for col in ("hub id", "file"):  # long names wrap rather than being cut
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(
            r["name"],
            f"{r['params'] / 1e6:.1f}M",
            str(r["resolution"]),
            "/".join(map(str, r["depths"])),
            str(r["kernel_size"]),
            "/".join(map(str, r["dilations"][:3])) if r["dilations"] else "-",
            str(r["num_classes"]),
            f"{min(r['preprocessing']['center_crop']) / r['preprocessing']['resize_shorter_side']:.3f}",
            r["hub_id"] or "-",
            r["file"],
        )
    wide_console(min_width=170).print(t)
    return 0
