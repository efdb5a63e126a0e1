"""The ``condet`` command.

Every subcommand has ``--help``. Bad input ends the command with one line on stderr
(``condet: error: ...``) and exit code 1, never a traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import typing
from collections.abc import Sequence

import condet
from condet.allocator import tune_cpu_allocator
from condet.commands import COMMANDS, GROUPS, Command
from condet.errors import CondetError
from condet.experiment.commands import DEMO_COMMAND, EXPERIMENT_COMMAND
from condet.options import add_config_arguments, given_values

# Every command, in the order ``condet --help`` lists them: the demo first, the commands a
# protocol runs, then the experiment that runs them.
ALL_COMMANDS: tuple[Command, ...] = (DEMO_COMMAND, *COMMANDS, EXPERIMENT_COMMAND)


class UsageError(CondetError):
    """A command line the parser refuses: an unknown flag, a missing argument, a bad choice."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, ending a bad command line as every other bad input ends: one line
    and exit code 1, where argparse prints the whole usage (tens of lines) and exits with 2."""

    def error(self, message: str) -> typing.NoReturn:
        raise UsageError(f"{message}; see {self.prog} --help")


def _common_options() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback when the command fails",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what the command does, step by step",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command in :data:`ALL_COMMANDS`, with its groups."""
    common = _common_options()
    parser = _Parser(
        prog="condet",
        parents=[common],
        description="Contrastive representation learning for object detection.",
    )
    parser.add_argument("--version", action="version", version=f"condet {condet.__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for command in ALL_COMMANDS:
        *group, name = command.name.split()
        adding = commands
        if group:
            if group[0] not in groups:
                help_text, description = GROUPS[group[0]]
                group_parser = commands.add_parser(
                    group[0], parents=[common], help=help_text, description=description
                )
                groups[group[0]] = group_parser.add_subparsers(
                    title="actions", dest="action", required=True
                )
            adding = groups[group[0]]
        subparser = adding.add_parser(
            name, parents=[common], help=command.help, description=command.description
        )
        add_config_arguments(subparser, command.config)
        subparser.set_defaults(command_record=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:
            # argparse would name the top parser's help, not the command's, which lists them
            raise UsageError(
                f"unrecognized arguments: {' '.join(unknown)}; see condet "
                f"{args.command_record.name} --help"
            )
    except UsageError as error:
        print(f"condet: error: {_one_line(error)}", file=sys.stderr)
        return 1
    debug = getattr(args, "debug", False)
    tune_cpu_allocator()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("condet: %(message)s"))
    condet_logger = logging.getLogger("condet")
    condet_logger.handlers[:] = [handler]
    condet_logger.propagate = False
    condet_logger.setLevel(logging.INFO if getattr(args, "verbose", False) else logging.WARNING)
    try:
        command: Command = args.command_record
        config = command.build_config(given_values(command.config, args))
        return command.run(config)
    except KeyboardInterrupt:
        print("condet: interrupted", file=sys.stderr)
        return 130
    except CondetError as error:
        if debug:
            raise
        print(f"condet: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except FloatingPointError as error:
        # The training steps raise it on a NaN / infinite loss: the run's settings (--lr, the
        # precision) went wrong, not condet, and the message says what to change.
        if debug:
            raise
        print(f"condet: error: training diverged: {_one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:
        if debug:
            raise
        kind = "error" if isinstance(error, OSError) else f"internal error ({type(error).__name__})"
        print(
            f"condet: {kind}: {_one_line(error)} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _one_line(error: BaseException) -> str:
    """The error's message on one line: some messages embed a library's multi-line text (a YAML
    parser's excerpt of the file, for one), and the command promises one line on stderr."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())
