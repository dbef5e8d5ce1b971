"""The frozen app's entry point (PyInstaller's script): ``liqdesk ...`` as the console script runs it.

A frozen app has no Python interpreter to start children with, yet liqdesk starts some the way a
pip install does, ``sys.executable -m MODULE ARGS`` (the live source's worker process, the bench's
fresh processes). In the bundle ``sys.executable`` is this app, so it accepts the same form for
liqdesk's own modules and runs the module as ``python -m`` would. ``freeze_support`` lets a
``multiprocessing`` child (spawn start method, the default on Windows and macOS) start the same way.
"""

import sys


def main() -> int:
    import multiprocessing

    multiprocessing.freeze_support()
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        if module != "liqdesk" and not module.startswith("liqdesk."):
            print(f"liqdesk: error: -m runs liqdesk's own modules only, not {module!r}", file=sys.stderr)
            return 2
        import runpy

        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    from liqdesk.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
