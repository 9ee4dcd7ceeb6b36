"""`triscope view profile.json`: a saved profile rendered as a live run renders it, the text
report on stdout or the HTML report in a file (and a browser)."""

import os
import sys

from triscope.options import new_parser, UsageError, percent
from triscope.reports import common, display, text


def main(argv: list) -> int:
    parser = new_parser(prog="triscope view", description="Render a saved profile.")
    parser.add_argument("profile")
    parser.add_argument("--cli", action="store_true",
                        help="text report on stdout (the default without --html, --web, -o)")
    parser.add_argument("--html", action="store_true",
                        help="write the HTML report: to -o FILE, else beside the profile "
                             "(profile.json gives profile.html)")
    parser.add_argument("--web", action="store_true",
                        help="write the HTML report and open it in a browser, when there is one")
    parser.add_argument("-o", "--outfile", help="where the HTML report goes")
    parser.add_argument("--cpu-percent-threshold", type=percent, default=1.0,
                        help="hide lines and files below this %% of the time (default 1)")
    parser.add_argument("-r", "--reduced", action="store_true",
                        help="leave out of the page what the thresholds hide (the text report "
                             "always does), as Scalene's view -r")
    parser.add_argument("--standalone", action="store_true",
                        help="accepted for Scalene's users: the page is always self-contained")
    parser.add_argument("--api-keys-from-env", action="store_true",
                        help="serve the HTML report from this machine (127.0.0.1) and hand "
                             "the page the AI keys set in the environment, never writing "
                             "them to a file; --web opens it; Ctrl-C stops")
    options = parser.parse_args(argv)
    as_html = options.html or options.web or options.outfile is not None
    profile = common.load(options.profile)
    if options.reduced:
        try:
            profile = display.reduced(profile, display.report_cut(
                profile, options.cpu_percent_threshold, 100))
        except common.MALFORMED as error:
            raise UsageError(f"{options.profile} is malformed: {error!r}") from None
    if options.api_keys_from_env:
        from triscope.reports import serve
        return serve.serve(profile, options.web)
    html_path = os.path.abspath(options.outfile or os.path.splitext(options.profile)[0] + ".html")
    try:
        if options.cli or not as_html:
            text.print_report(profile, sys.stdout, options.cpu_percent_threshold, 100)
        if as_html:
            _write_html(profile, html_path, options.web)
    except BrokenPipeError:
        raise  # the reader went away: the command line ends as a filter does
    except OSError as error:
        raise UsageError(f"cannot write the report: {error}") from None
    except common.MALFORMED as error:
        raise UsageError(f"{options.profile} is malformed: {error!r}") from None
    return 0


def _write_html(profile: dict, path: str, open_browser: bool) -> None:
    """Writes the HTML report and says where; with open_browser, also shows it."""
    from triscope.reports import html
    html.write(profile, path)
    print(f"triscope: HTML report written to {path}", file=sys.stderr)
    if open_browser and not html.open_in_browser(path):
        print(f"triscope: no browser to open it here; open {path} in one", file=sys.stderr)
