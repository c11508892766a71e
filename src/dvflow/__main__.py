"""``python -m dvflow``."""

from dvflow.cli.main import main

if __name__ == "__main__":
    main()
