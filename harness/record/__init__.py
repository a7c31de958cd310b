"""The run record: the typed models of every file in a run's folder, the writer that writes them and the
`RunRecord` that reads them back. Checks and reports read only this."""

from .clients import ClientRecord
from .control import CONTROL, CONTROL_CLIENTS, CONTROL_DIR, CONTROL_JOURNAL
from .host import HOST_FILE, HostSample
from .journal import JournalEntry, ReplyChoice, ReplyRecord, ToolCallRecord
from .load_summary import ControlSummary, LoadSummary, WorkerSummary
from .meta import RECORD_VERSION, AdoptedFakeMeta, GatewayMeta, Limitation, RunMeta
from .phases import COMPLETED, FAILED, INTERRUPTED, RUNNING, WARM_UP, Outcome, is_load
from .run_record import RunRecord
from .schema import record_json_schema
from .timeline import TimelineEvent
from .writer import RecordWriter, config_hash, versions

__all__ = [
           "COMPLETED",
           "CONTROL",
           "CONTROL_CLIENTS",
           "CONTROL_DIR",
           "CONTROL_JOURNAL",
           "FAILED",
           "HOST_FILE",
           "INTERRUPTED",
           "RECORD_VERSION",
           "RUNNING",
           "WARM_UP",
           "AdoptedFakeMeta",
           "ClientRecord",
           "ControlSummary",
           "GatewayMeta",
           "HostSample",
           "JournalEntry",
           "Limitation",
           "LoadSummary",
           "Outcome",
           "RecordWriter",
           "ReplyChoice",
           "ReplyRecord",
           "RunMeta",
           "RunRecord",
           "TimelineEvent",
           "ToolCallRecord",
           "WorkerSummary",
           "config_hash",
           "is_load",
           "record_json_schema",
           "versions",
]
