"""``python -m svhn_erase.cli``."""

from svhn_erase.cli import main

raise SystemExit(main())
