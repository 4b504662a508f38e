"""score: predict an architecture's risk before full training; refit the model on a store."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Tuple

import typer

from archrisk.cli.app import app
from archrisk.cli.common import DEVICE, JSON, STORE, console, err_console, print_json, table
from archrisk.errors import InvalidValueError
from archrisk.paths import check_output, write_output


@app.command("score")
def score_cmd(
    arch: Optional[str] = typer.Argument(None, help="name, 'random(k)', remedy(...), or a genotype"),
    refit: bool = typer.Option(False, "--refit", help="refit the coefficients on the results in --store"),
    store: str = STORE,
    fit: Optional[Path] = typer.Option(None, "--fit", help="(deprecated: use --refit --store STORE)"),
    out: Optional[Path] = typer.Option(None, "--out", help="with --refit: where to write the coefficients "
                                                           "(default: STORE with suffix .score.json)"),
    model: Optional[Path] = typer.Option(None, "--model", help="coefficient file to score with (default: shipped)"),
    study: Optional[str] = typer.Option(None, "--study", help="with --refit: only this study's results"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="with --refit: fit this dataset's results "
                                                                  "(default: the store's most common)"),
    size: Optional[str] = typer.Option(None, "--size", help="with --refit: fit this size preset's results"),
    compare: Optional[Tuple[Path, Path]] = typer.Option(
        None, "--compare", help="A.json B.json: two coefficient files' validation side by side; with --out, write "
                                "the better-validated coefficients per family (A is the incumbent)"),
    device: str = DEVICE,
    json_out: bool = JSON,
) -> None:
    """Risk per attack family from structure, init-time and short-run signals (seconds at tiny)."""
    from archrisk.score import fit_store, score

    if compare and all(compare):  # typer may pass (None, None) when the option is absent
        return _compare(*compare, out, json_out)
    if fit is not None:
        if sys.stderr.isatty():  # for people; scripts reading stderr keep their one-line errors
            err_console.print(f"note: --fit {fit} is deprecated; write --refit --store {fit}", highlight=False)
    elif refit:
        fit = Path(store)
    if fit is None and arch is None:
        raise InvalidValueError("give an architecture to score, or --refit --store results.db to refit the model")
    fitted = None
    if fit is not None:
        # never the shipped file by default: a refit is one store's view, and the package may be read-only
        # both outputs checked before the fit, not after it: the coefficient file, and the store (the fit is
        # recorded there for the report; a missing store is reported by the fit itself)
        dest = check_output(out or fit.with_suffix(".score.json"), "--out" if out else "coefficient file")
        if fit.exists():
            check_output(fit, "--store")
        fitted = fit_store(fit, study=study, dataset=dataset, size=size, device=device, progress=not json_out)
        holds = fitted.provenance.get("store_holds") or {}
        if len(holds) > 1 and dataset is None and size is None:
            err_console.print(f"note: {fit} holds results on {', '.join(holds)}; fitted "
                              f"{fitted.provenance['dataset']}/{fitted.provenance['size']} (the most results); "
                              "pick one with --dataset D --size Z", highlight=False, soft_wrap=True)
        _save(fitted, dest)
        rows = [[f, fit_.n_archs, fit_.loao_rho, f"[{fit_.loao_ci[0]:.2f}, {fit_.loao_ci[1]:.2f}]", fit_.ridge,
                 _baselines({"baselines": fit_.baselines}), _verdict(fit_.beats_baselines())]
                for f, fit_ in fitted.families.items()]
        if json_out and arch is None:
            print_json({"coefficients": str(dest), "families": {
                r[0]: {"n_archs": r[1], "loao_rho": r[2], "ci": r[3], "ridge": r[4],
                       "baselines": fitted.families[r[0]].baselines, "beats_baselines": fitted.families[r[0]].beats_baselines()}
                for r in rows}})
            return
        if not json_out:
            table(f"risk score fitted on {fit} -> {dest}", ["family", "archs", "LOAO rho", "95% CI", "ridge",
                                                            "rho: params / FLOPs", "beats both"], rows)
            console.print(f"recorded in {fit} for `archrisk report`; score with it: archrisk score ARCH --model {dest}",
                          highlight=False)
    if arch is None:
        return
    with err_console.status(f"measuring the signals of {arch} ..."):  # 10-15 s at tiny on CPU
        r = score(arch, model=fitted or model, device=device)
    if json_out:
        print_json(r.to_dict())
        return
    table(f"risk of {arch} (predicted vulnerability rank among reference archs, 0 = least)",
          ["family", "risk", "LOAO rho", "95% CI", "ceiling", "rho: params / FLOPs", "archs", "top signal"],
          [[f, f"{v:.2f}" if r.predicted[f] else "not predicted", f"{r.validation[f]['rho']:.2f}", "[{:.2f}, {:.2f}]".format(*r.validation[f]["ci"]),
            f"{r.validation[f]['ceiling']:.2f}", _baselines(r.validation[f]), r.validation[f]["n_archs"],
            max(r.contributions[f].items(), key=lambda kv: abs(kv[1]))[0]]
           for f, v in r.risk.items()])
    if not all(r.predicted.values()):
        console.print("not predicted: the held-out rho is not clearly above 0 (95% CI), below 0.2, below half its "
                      "ceiling, or no better than ranking by parameter count or FLOPs alone (the same held-out rho); "
                      "the score cannot rank that family", highlight=False)
    console.print("signals: " + ", ".join(f"{k}={v:.3g}" for k, v in r.signals.items())
                  + f"   ({r.seconds:.1f}s)", highlight=False)


def _baselines(validation: dict) -> str:
    """The baselines' held-out rhos, as the table shows them ('-' where the fit measured none)."""
    b = validation.get("baselines") or {}
    return " / ".join(f"{b[k]:.2f}" if b.get(k) is not None else "-" for k in ("parameter count", "FLOPs")) \
        if b else "-"


def _verdict(beats: bool | None) -> str:
    return "-" if beats is None else ("yes" if beats else "no: not shipped, size ranks as well")


def _compare(a: Path, b: Path, out: Optional[Path], json_out: bool) -> None:
    from archrisk.score.compare import COMPARE_COLUMNS, MIN_SHIP_ARCHS, compare_rows, describe, fitted_on, ship
    from archrisk.score.model import load_model

    if out is not None:
        out = check_output(out, "--out")
    ma, mb = load_model(a), load_model(b)
    rows = compare_rows(ma, mb)
    shipped = None
    if out is not None:
        merged, shipped = ship(ma, mb, (str(a), str(b)))
        _save(merged, out)
    if json_out:
        cols = [c.format(a="A", b="B") for c in COMPARE_COLUMNS]
        print_json({"A": {"file": str(a), **fitted_on(ma)}, "B": {"file": str(b), **fitted_on(mb)},
                    "families": {r[0]: dict(zip(cols[1:], r[1:])) for r in rows},
                    **({"out": str(out), "shipped_from": shipped} if shipped is not None else {})})
        return
    console.print(f"A: {a}: {describe(fitted_on(ma))}\nB: {b}: {describe(fitted_on(mb))}", highlight=False)
    table("held-out (LOAO) validation per family", [c.format(a="A", b="B") for c in COMPARE_COLUMNS],
          [["-" if v is None else v for v in r[:-1]] + [r[-1].upper() if r[-1] in ("a", "b") else r[-1]]
           for r in rows])
    console.print(f"better validated: the higher 95% CI lower bound of the LOAO rho among fits on >= {MIN_SHIP_ARCHS} "
                  "architectures (a tie keeps A)", highlight=False)
    if shipped is not None:
        console.print(f"wrote {out}: " + ", ".join(f"{f} from {src}" for f, src in sorted(shipped.items())),
                      highlight=False)


def _save(model, path: Path) -> None:
    """ScoreModel.save's bytes, through the writer every output shares (folders created, links not followed)."""
    write_output(path, (model.to_json() + "\n").encode("utf-8"))
