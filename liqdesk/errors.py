"""Errors meant for the user: the command line prints their message on one line, no traceback."""


class UserError(Exception):
    """Bad input from the user (arguments, files). Its message is printed as is."""
