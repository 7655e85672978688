"""The command line: one module per verb (argparse and printing only), :mod:`pyctl.cli.main` dispatching."""
