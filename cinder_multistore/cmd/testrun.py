"""Run the project's tests: unit first, then functional on a live stack."""

import subprocess
import sys


def main() -> int:
    """Run the unit tests; exit with pytest's status."""
    return subprocess.call([sys.executable, '-m', 'pytest', '-q',
                            'tests/unit'])


if __name__ == '__main__':
    sys.exit(main())
