"""Entry point: ``python -m credit_score.modelling.training --help``."""

from credit_score.modelling.training.cli import main

raise SystemExit(main())
