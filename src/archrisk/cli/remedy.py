"""remedy: apply the study's remedies (deeper cells, no skip connects) to any cell architecture."""
from __future__ import annotations

from typing import Optional

import typer

from archrisk.cli.app import app
from archrisk.cli.common import JSON, console, print_json, table


@app.command()
def remedy(
    arch: str = typer.Argument(..., help="a cell architecture: name, 'random(k)', or a genotype"),
    deepen: Optional[str] = typer.Option(None, "--deepen", help="grow the cell depth by K, or 'full' (one chain)"),
    no_skip: bool = typer.Option(False, "--no-skip", help="replace skip connects with a convolution"),
    skip_op: str = typer.Option("sep_conv_3x3", "--skip-op", help="the op replacing skip connects"),
    cells: str = typer.Option("normal", "--cells", help="normal | reduce | both"),
    json_out: bool = JSON,
) -> None:
    """Print the remedied genotype, its structure stats, and the arch string that names it in studies."""
    from archrisk.arch import resolve
    from archrisk.arch.spec import RemedySpec

    opts = []
    if deepen is not None:
        opts.append(f"deepen={deepen.strip()}")
    if no_skip:
        opts.append("no_skip=true")
    if skip_op != "sep_conv_3x3":
        opts.append(f"skip_op={skip_op}")
    if cells != "normal":
        opts.append(f"cells={cells}")
    spec = RemedySpec.parse("remedy(" + ", ".join([arch, *opts]) + ")")
    before, after = resolve(spec.source), resolve(spec.name)
    rows = [[label, c, *vars(s.genotype.stats(c)).values()]
            for label, s in (("source", before), ("remedied", after)) for c in ("normal", "reduce")]
    if json_out:
        print_json({"arch": spec.name, "source": spec.source, "genotype": after.genotype.to_dict(),
                    "format": after.genotype.format(), "spec_hash": after.hash(),
                    "stats": {f"{r[0]}.{r[1]}": dict(zip(vars(after.genotype.stats()), r[2:])) for r in rows}})
        return
    console.print(f"[bold]{spec.name}[/bold]", highlight=False)
    console.print(after.genotype.format(), highlight=False, markup=False, soft_wrap=True)
    console.print(after.genotype.draw("normal"), highlight=False, markup=False)
    table("cell structure", ["which", "cell", *vars(before.genotype.stats())], rows)
