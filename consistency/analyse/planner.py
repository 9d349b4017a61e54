"""``consistency plan``: how many items a study needs, or what effect a design can detect.

Plain argument parsing (Hydra owns only ``run``). Two modes, chosen by the flags:

* ``--items N`` (no ``--mde``): print the minimum detectable effect of that design;
* ``--mde D``: print the items needed to detect a true difference ``D``.

With ``--discordance PSI`` the answer is exact for one response per item and arm (McNemar mid-p,
:func:`consistency.analyse.stats.mcnemar_power`); otherwise it is Miller's (2024) formula with
``--epochs``, ``--within-var`` and ``--between-var`` (:func:`consistency.analyse.stats.plan_mde`).
"""

from __future__ import annotations

import argparse
import math

from consistency.analyse import stats
from consistency.common.errors import EXIT_INPUT_ERROR

DESCRIPTION = """\
Power planner for paired consistency tests. Give --items to get the minimum detectable effect
(MDE), or --mde to get the items needed. Effects are differences of rates (0.05 = 5 points).
Without --discordance: Miller (2024) "Adding Error Bars to Evals", variance of the mean paired
difference = (between_var + within_var / epochs) / items. With --discordance (share of items
whose two arms disagree; one response per arm): exact power of the McNemar mid-p test."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consistency plan", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, help="items in the design (gives the MDE)")
    parser.add_argument("--mde", type=float, help="target true difference (gives the items)")
    parser.add_argument("--epochs", type=int, default=1,
                        help="responses per item and arm, averaged (default 1)")
    parser.add_argument("--within-var", type=float, default=0.5,
                        help="variance of one epoch's paired difference within an item "
                             "(default 0.5: two independent 0/1 responses near 50%%)")
    parser.add_argument("--between-var", type=float, default=0.0,
                        help="variance over items of the true per-item difference (default 0)")
    parser.add_argument("--alpha", type=float, default=0.05, help="test level (default 0.05)")
    parser.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    parser.add_argument("--one-sided", action="store_true",
                        help="plan a one-sided (directional) test, as sandbagging and "
                             "strategic_compliance use")
    parser.add_argument("--discordance", type=float,
                        help="one response per arm: probability that an item's arms disagree")
    return parser


class _ParseError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with our one-paragraph style
        raise _ParseError(message)


def run_plan(argv: list[str]) -> tuple[int, str]:
    """Parse ``argv`` and return ``(exit status, text to print)``; pure apart from parsing."""
    parser = build_parser()
    parser.__class__ = _Parser
    try:
        args = parser.parse_args(argv)
        return 0, _answer(args)
    except (_ParseError, ValueError) as exc:
        return EXIT_INPUT_ERROR, f"consistency plan: error: {exc}"


def _check_scale(args: argparse.Namespace) -> None:
    """Effects are differences of two rates, so at most 1, and the variances of a paired
    difference of 0/1 outcomes at most 1: ``--mde 5`` is a percentage typed as a proportion,
    which the formulas would answer without complaint (2 items)."""
    if args.mde is not None and args.mde > 1:
        hint = f"; for {args.mde:g} points use --mde {args.mde / 100:g}" if args.mde <= 100 else ""
        raise ValueError(f"--mde is a difference of rates between 0 and 1 (0.05 = 5 points), got "
                         f"{args.mde:g}{hint}")
    for flag, value in (("--within-var", args.within_var), ("--between-var", args.between_var)):
        if value is not None and value > 1:
            raise ValueError(f"{flag} is the variance of a difference of 0/1 outcomes, at most 1; "
                             f"got {value:g}")


def _answer(args: argparse.Namespace) -> str:
    if (args.items is None) == (args.mde is None):
        raise ValueError("give exactly one of --items (to get the MDE) or --mde (to get the "
                         "items needed)")
    _check_scale(args)
    sides = 1 if args.one_sided else 2
    common = dict(alpha=args.alpha, power=args.power, sides=sides)
    test = f"{'one' if sides == 1 else 'two'}-sided alpha {args.alpha}, power {args.power}"
    if args.discordance is not None:
        if args.epochs != 1:
            raise ValueError("--discordance plans one response per item and arm; use --epochs 1 "
                             "or drop --discordance")
        if args.items is not None:
            plan = stats.plan_mde_mcnemar(args.items, args.discordance, **common)
            if math.isnan(plan.mde):
                return (f"no difference up to the discordance {args.discordance} reaches power "
                        f"{args.power} with {args.items} items (exact McNemar mid-p, {test})")
            return (f"minimum detectable effect: {plan.mde:.4f} ({100 * plan.mde:.1f} points) "
                    f"with {args.items} items, discordance {args.discordance} "
                    f"(exact McNemar mid-p, {test})")
        plan = stats.plan_items_mcnemar(args.mde, args.discordance, **common)
        return (f"items needed: {plan.items} to detect {args.mde} at discordance "
                f"{args.discordance} (exact McNemar mid-p, {test}; achieved power "
                f"{plan.power:.3f})")
    design = dict(epochs=args.epochs, within_var=args.within_var, between_var=args.between_var)
    where = (f"epochs {args.epochs}, within-var {args.within_var}, between-var "
             f"{args.between_var}; Miller 2024, {test}")
    if args.items is not None:
        plan = stats.plan_mde(args.items, **design, **common)
        return (f"minimum detectable effect: {plan.mde:.4f} ({100 * plan.mde:.1f} points) with "
                f"{args.items} items ({where})")
    plan = stats.plan_items(args.mde, **design, **common)
    return f"items needed: {plan.items} to detect {args.mde} ({where})"
