"""`{% deadline_text notice as deadline %}`: a notice's deadline as the banner and the list of
deadlines show it (issue 15): "报名截止：2025年3月1日", and "已截止" / "今天截止" / "还剩 3 天"
counted from the site's date now (notices/deadlines.today)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext

from notices import deadlines
from notices.models import Notice

register = template.Library()

LABELS = {
    "报名截止": gettext_lazy("Registration closes"),
    "提交截止": gettext_lazy("Submissions close"),
    "截止": gettext_lazy("Deadline"),
}


@register.simple_tag
def deadline_text(notice: Notice) -> dict[str, Any] | None:
    if not notice.deadline:
        return None
    label = LABELS.get(notice.deadline_label, LABELS["截止"])
    when = gettext("%(label)s: %(date)s") % {
        "label": label,
        "date": date_format(notice.deadline, "DATE_FORMAT"),
    }
    state, days = deadlines.status(notice.deadline)
    if state == "past":
        text = gettext("closed")
    elif state == "today":
        text = gettext("closes today")
    else:
        text = ngettext("%(days)s day left", "%(days)s days left", days) % {"days": days}
    return {
        "state": state,
        "days": days,
        "when": when,
        "status": text,
        "separator": pgettext("between a deadline and its status", ", "),
        "date": notice.deadline,
        "phrase": notice.deadline_phrase,
    }
