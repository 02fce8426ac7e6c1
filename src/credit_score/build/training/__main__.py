"""Entry point: ``python -m credit_score.build.training --help``."""

from credit_score.build.training.cli import main

raise SystemExit(main())
