"""The `secondlook` command: the kernel's commands (secondlook/cli.py: token, keys,
audit, directory) and the services' own (`report prior-auth`, intake's store;
`review seal-texts`, review's)."""

from __future__ import annotations

import sys

from secondlook import cli
from services.intake import report
from services.review import maintenance


def main(argv: list[str] | None = None) -> int:
    parser, sub = cli.build_parser()
    report.add_commands(sub)
    maintenance.add_commands(sub)
    return cli.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
