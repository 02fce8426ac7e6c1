import sys

from credit_score.monitoring.cli import main

sys.exit(main())
