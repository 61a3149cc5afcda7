"""The incidents service: incidents declared from alerts or calls, SOP checklists as tasks for
departments, proposals from clustered alerts, and the runner's jobs.

``from app import incidents`` gives the operations (declare, change, link, add_step, act_on_task,
accept and dismiss proposals, reading). The SOP catalogue lives in ``app.incidents.sop`` (with the
shipped default_sops.toml), who may do what in ``app.incidents.policy``, the runner's periodic
jobs in ``app.incidents.jobs``, the CAP 1.2 public warning in ``app.incidents.cap``; the
vocabulary (levels, states, ids) in ``app.model.incidents``. docs/incidents.md tells the whole.
"""

from app.accounts import departments_of
from app.incidents.errors import Conflict, IncidentError, IncidentNotFound, NotPermitted
from app.incidents.lifecycle import SYSTEM_ACTOR, SYSTEM_ADDR, add_step, change, declare
from app.incidents.links import auto_link, link
from app.incidents.policy import ACTORS, DECLARERS, READERS, may_act_on_task, may_change, may_declare
from app.incidents.proposals import accept, dismiss, propose
from app.incidents.queries import (
    alert_links,
    get_incident,
    get_proposal,
    get_task,
    incident_tasks,
    list_incidents,
    list_proposals,
    list_tasks,
    notices,
    timeline,
)
from app.incidents.sop import Catalogue, SopError
from app.incidents.tasks import act as act_on_task

__all__ = ["ACTORS", "Catalogue", "Conflict", "DECLARERS", "IncidentError", "IncidentNotFound",
           "NotPermitted", "READERS", "SYSTEM_ACTOR", "SYSTEM_ADDR", "SopError", "accept",
           "act_on_task", "add_step", "alert_links", "auto_link", "change", "declare",
           "departments_of", "dismiss",
           "get_incident", "get_proposal", "get_task", "incident_tasks", "link", "list_incidents",
           "list_proposals", "list_tasks", "may_act_on_task", "may_change", "may_declare",
           "notices", "propose", "timeline"]
