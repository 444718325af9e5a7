"""``python -m usergate.keeper`` = ``usergate-keeper``."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="usergate-keeper")
