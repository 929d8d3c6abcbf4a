import sys

from pytest_snixbuild.cli.main import main

sys.exit(main())
