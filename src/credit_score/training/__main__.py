"""Entry point: ``python -m credit_score.training --help``."""

from credit_score.training.cli import main

raise SystemExit(main())
