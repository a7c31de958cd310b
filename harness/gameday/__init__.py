"""`gatedrill gameday`: a live console for rehearsing an incident on a running drill, and the export that turns the
session into a repeatable drill. session.py runs it, live.py holds the live state, server.py and page.py serve it,
actions.py maps the console's forms to timeline actions, export.py writes the session as a scenario."""

from .actions import ConsoleAction, timeline_action
from .export import export_session, session_scenario
from .session import run_gameday

__all__ = ["ConsoleAction", "export_session", "run_gameday", "session_scenario", "timeline_action"]
