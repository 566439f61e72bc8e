"""Entry point of the vip engine's child process: ``python -m zerotile.verif.vip_child REQUEST``
(see ``vip.run_vip``)."""
import sys

from .toolchain import prepare_env
from .vip import run_request

if __name__ == "__main__":
    prepare_env()
    run_request(sys.argv[1])
