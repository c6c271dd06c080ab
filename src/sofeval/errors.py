"""Exception and warning classes of sofeval.

Every data error raised by sofeval subclasses :class:`ValueError`, so that
``except ValueError`` keeps working for users who do not import these names.
The command line catches :class:`SofevalError` and prints its message without
a traceback.
"""

from __future__ import annotations


class SofevalError(ValueError):
    """Base class of every error sofeval raises for bad input or bad options."""


class ContractError(SofevalError):
    """Input data break a rule of the data contract.

    Parameters
    ----------
    message
        Human-readable explanation that names the table, the rule and the offending rows.
    table
        Name of the contract table (``spells``, ``meetings``, ...).
    rule
        Short machine-readable rule name (``duplicate_spell_id``, ...).
    rows
        Identifiers of the offending rows (spell ids or row numbers).
    """

    def __init__(
        self,
        message: str,
        *,
        table: str = "",
        rule: str = "",
        rows: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.table = table
        self.rule = rule
        self.rows = rows


class OptionError(SofevalError):
    """An option has a value outside its allowed set."""


class EstimationError(SofevalError):
    """A model cannot be estimated on the data given (for example no events at all)."""


class SofevalWarning(UserWarning):
    """Base class of sofeval's warnings (tests turn these into errors)."""


class NotIdentifiedWarning(SofevalWarning):
    """A parameter is not identified by the data and was set aside (reported as NaN)."""


class ConvergenceWarning(SofevalWarning):
    """An iterative estimator did not converge within its iteration limit."""


def check_option(name: str, value: object, allowed: tuple[object, ...]) -> None:
    """Raise :class:`OptionError` if ``value`` is not one of ``allowed``.

    Parameters
    ----------
    name
        Name of the option, used in the message.
    value
        Value given by the user.
    allowed
        The valid values.

    Raises
    ------
    OptionError
        Listing the valid values.
    """
    if value not in allowed:
        valid = ", ".join(repr(a) for a in allowed)
        raise OptionError(f"{name}={value!r} is not a valid option; choose one of: {valid}.")
