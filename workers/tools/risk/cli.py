"""``paysaga risk train``: its arguments, and the run it prints."""

from __future__ import annotations

import argparse
import os
import sys

from workers.tools.arguments import positive_int
from workers.tools.risk import DEFAULT_SAMPLES
from workers.tools.risk import DEFAULT_SEED


def add_risk_arguments(risk: argparse.ArgumentParser) -> None:
    commands = risk.add_subparsers(dest="risk_command", required=True, metavar="RISK_COMMAND")
    train = commands.add_parser(
        "train",
        help="train the risk model on generated data (and stored labels) and save it with its "
        "held-out metrics",
        description="Generate a synthetic labelled dataset (plus, with --labels, the real "
        "outcomes stored in the database), train the model (threshold chosen on "
        "cross-validated training predictions), measure precision, recall and ROC AUC on a "
        "held-out 25%, and save model.joblib + model.json into --out.",
    )
    train.add_argument(
        "--out",
        default=os.path.join(os.environ.get("PAYSAGA_DATA_DIR", ".paysaga"), "risk-model"),
        help="directory to write the model into (default: %(default)s)",
    )
    train.add_argument(
        "--samples", type=positive_int, default=DEFAULT_SAMPLES, help="default: %(default)s"
    )
    train.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default: %(default)s")
    train.add_argument(
        "--labels",
        action="store_true",
        help="also learn from the real outcomes stored in the database (operators' review "
        "verdicts, disputes); fails when there are none",
    )
    train.add_argument(
        "--database-url",
        help="with --labels: the database holding them (default: PAYSAGA_DATABASE_URL)",
    )


def main(args: argparse.Namespace) -> int:
    # scikit-learn is imported here only: it costs about a second, other commands skip it.
    from workers.tools.risk.run import train_and_save
    from workers.tools.risk.training import TrainingError

    labels = None
    if args.labels:
        labels = _stored_labels(args.database_url)
        if labels is None:
            return 1
    try:
        run = train_and_save(args.out, args.samples, args.seed, labels)
    except TrainingError as exc:
        print(f"paysaga risk train: {exc}", file=sys.stderr)
        return 1
    print("\n".join(run.report()))
    return 0


def _stored_labels(database_url: str | None):
    """The usable labels of the database, or None (said on stderr) when there are none: a
    model asked to learn from real outcomes must not silently learn from none."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from schemas.runtime.settings import Settings
    from schemas.store.database import make_engine
    from workers.tools.risk.labels import load_labels

    url = database_url or Settings().database_url
    shown = make_url(url).render_as_string(hide_password=True)
    engine = make_engine(url)
    try:
        labels = load_labels(engine)
    except SQLAlchemyError as exc:
        print(f"paysaga risk train: {shown}: {exc}", file=sys.stderr)
        return None
    finally:
        engine.dispose()
    if labels.used == 0:
        print(
            f"paysaga risk train: no usable labels in {shown} ({labels.stored} stored, "
            f"{labels.without_features} without features): labels come from operators' "
            "review verdicts and disputes; train without --labels for the synthetic data only",
            file=sys.stderr,
        )
        return None
    return labels
