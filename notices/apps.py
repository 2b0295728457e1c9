from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = _("Notices")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Writes bump the data version and keep the stored counts through explicit calls
        # (notices/counts.py, notices/caching.py, issue 14). The receivers that stay are for
        # writes that pass no method of ours: the link tables' related managers (one signal
        # per call) and taggit's Tag model.
        from notices import counts

        counts.connect()
