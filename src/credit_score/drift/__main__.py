import sys

from credit_score.drift.cli import main

sys.exit(main())
