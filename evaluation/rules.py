"""`make eval-rules`: what the cheque template's field rules do to straight-through reading.

Generated cheques (MNIST's TEST digits; real dates written DDMMYYYY, account numbers ending
in a Luhn check digit: `synth.pages.make_page(luhn_accounts=True)`) are read by the shipped
pipeline twice, with `form_templates/cheque.json` (its account rule asking for the Luhn
check digit the generated accounts have) and with its rules taken out: the
same pages, the same readers. Printed for each field (date, amount, account) and all
together, without and with the rules: exact match, the share accepted without review at the
default review threshold (and the error among those), and the straight-through share at
<= 0.5% error (`evaluation.pages.auto_accept`); with the rules, how many fields a rule sent to
review and how many readings it changed (and how many of those changes were right).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from evaluation import write_report
from evaluation.pages import Scored, auto_accept, matched_field, style_digits
from segmentation.templates import Template, load_template
from synth.scanner import STYLES

RULES_SEED = 20261203  # not make eval's seed: these pages are cheques only, with valid values
FIELDS = ("date", "amount", "account")


def with_luhn_accounts(template: Template) -> Template:
    """The template with its account rule asking for a Luhn check digit, as the generated
    cheques' accounts have one (the shipped template asks for none: banks differ)."""
    return dataclasses.replace(template, regions=tuple(
        dataclasses.replace(r, rule=dataclasses.replace(r.rule, check_digit="luhn"))
        if r.name == "account" and r.rule is not None else r for r in template.regions))


def without_rules(template: Template) -> Template:
    """The same template with every region's rule taken out."""
    return dataclasses.replace(template, regions=tuple(dataclasses.replace(r, rule=None)
                                                       for r in template.regions))


def _summary(rows: list[tuple[Scored, str | None]], threshold: float) -> dict:
    scored = [s for s, _ in rows]
    table = auto_accept(scored, [threshold])
    best = table["best"]
    at = table["at_thresholds"][0]
    return {"fields": len(scored),
            "exact": sum(s.read == s.truth for s in scored) / max(1, len(scored)),
            "straight_through_at_0.5pct": best["accepted_share"] if best else 0.0,
            "threshold_at_0.5pct": best["threshold"] if best else None,
            "accepted_at_default": at["accepted_share"], "error_at_default": at["error_among_accepted"],
            "sent_to_review_by_rule": sum(error is not None for _, error in rows)}


def evaluate(pages: list, reader, template: Template, threshold: float) -> dict:  # type: ignore[no-untyped-def]
    """Every page read with and without the template's rules; per field name, both summaries
    and how the readings changed."""
    plain = without_rules(template)
    rows: dict[str, dict[str, list[tuple[Scored, str | None]]]] = {
        "without": {n: [] for n in FIELDS}, "with": {n: [] for n in FIELDS}}
    changed = {n: {"changed": 0, "now_right": 0, "now_wrong": 0} for n in FIELDS}
    seconds = {"without": 0.0, "with": 0.0}
    for page in pages:
        results = {}
        for label, t in (("without", plain), ("with", template)):
            started = time.perf_counter()
            results[label] = reader.read_page(page.image, t).fields
            seconds[label] += time.perf_counter() - started
        for truth in page.fields:
            if truth.name not in FIELDS:
                continue
            read = {label: matched_field(truth.box, found) for label, found in results.items()}
            for label, f in read.items():
                rows[label][truth.name].append((
                    Scored(truth.name, truth.value, f.value if f else None, f.confidence if f else 0.0),
                    f.rule_error if f else None))
            before, after = read["without"], read["with"]
            if before and after and before.value != after.value:
                changed[truth.name]["changed"] += 1
                changed[truth.name]["now_right"] += after.value == truth.value
                changed[truth.name]["now_wrong"] += before.value == truth.value
    out: dict = {"pages": len(pages), "seconds": seconds, "fields": {}}
    for name in (*FIELDS, "all"):
        entry = {}
        for label in ("without", "with"):
            group = [r for n in FIELDS for r in rows[label][n]] if name == "all" else rows[label][name]
            entry[label] = _summary(group, threshold)
        entry["readings_changed"] = changed[name] if name != "all" else {
            k: sum(c[k] for c in changed.values()) for k in ("changed", "now_right", "now_wrong")}
        out["fields"][name] = entry
    return out


def _pages(style: str, count: int, seed: int, mnist_dir: str | None) -> list:
    """Cheques of one style (`evaluation.pages.style_digits`), accounts with a Luhn digit."""
    from synth.pages import make_page

    digits = style_digits(style, mnist_dir)
    rng = np.random.default_rng(seed)
    return [make_page(digits, rng, "cheque", None if style == "ours" else style, luhn_accounts=True)
            for _ in range(count)]


def _print(style: str, r: dict, threshold: float) -> None:
    print(f"\n== {style} style: {r['pages']} cheques; reading {r['seconds']['without']:.0f} s without "
          f"rules, {r['seconds']['with']:.0f} s with ==")
    print(f"{'field':8s} {'':8s} {'exact':>7s} {'straight through ≤0.5% (thr)':>29s} "
          f"{'at ' + format(threshold, '.2f') + ' (error)':>20s} {'rule→review':>11s}")
    for name, entry in r["fields"].items():
        for label in ("without", "with"):
            s = entry[label]
            thr = f"({s['threshold_at_0.5pct']:.4f})" if s["threshold_at_0.5pct"] is not None else "(none)"
            print(f"{name:8s} {label:8s} {s['exact']:7.2%} {s['straight_through_at_0.5pct']:19.2%} "
                  f"{thr:>9s} {s['accepted_at_default']:11.2%} ({s['error_at_default']:.2%}) "
                  f"{s['sent_to_review_by_rule']:11d}")
        c = entry["readings_changed"]
        print(f"{'':8s} readings changed by the rule: {c['changed']} ({c['now_right']} now right, "
              f"{c['now_wrong']} now wrong)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m evaluation.rules", description=__doc__.splitlines()[0])
    parser.add_argument("--cheques", type=int, default=400, help="cheques of each style")
    parser.add_argument("--seed", type=int, default=RULES_SEED)
    parser.add_argument("--style", choices=(*STYLES, "all"), default="all")
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--output", type=Path, default=Path("results/eval_rules.json"))
    args = parser.parse_args(argv)

    from core.settings import DEFAULT_REVIEW_THRESHOLD, Settings
    from worker.recognition import reader_for

    settings = Settings.from_env()
    reader = reader_for(settings)  # one thread, as in a worker process
    template = with_luhn_accounts(load_template(settings.form_templates_dir / "cheque.json"))
    report: dict = {"seed": args.seed, "model": reader.version, "threshold": DEFAULT_REVIEW_THRESHOLD,
                    "styles": {}}
    for style in STYLES if args.style == "all" else (args.style,):
        seed = args.seed + STYLES.index(style)  # each style its own seed, whichever are asked for
        print(f"generating {args.cheques} {style} cheques (seed {seed})…", flush=True)
        pages = _pages(style, args.cheques, seed, args.mnist_dir)
        result = evaluate(pages, reader, template, DEFAULT_REVIEW_THRESHOLD)
        result["seed"] = seed
        report["styles"][style] = result
        _print(style, result, DEFAULT_REVIEW_THRESHOLD)
    write_report(report, args.output)
    return report


if __name__ == "__main__":
    main()
