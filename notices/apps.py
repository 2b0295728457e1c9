from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = _("Notices")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the hook that removes a deleted notice from the search index.
        from notices import search  # noqa: F401

        self.connect_cache_invalidation()
        # Stored list counts follow every ORM write (bulk writes call them directly).
        from notices import counts

        counts.connect()

    def connect_cache_invalidation(self) -> None:
        """Writes through the ORM change the data version that keys cached values (issue 5).

        No receiver on TaggedNotice deletes: it would turn cascading deletes into one
        query per row. Those deletes come with a Notice or Tag delete, which bumps.
        """
        from django.db.models.signals import m2m_changed, post_delete, post_save
        from taggit.models import Tag

        from notices.caching import bump_on_write
        from notices.models import Category, Notice, TaggedNotice

        for model in (Notice, Category, Tag):
            name = model.__name__
            post_save.connect(bump_on_write, sender=model, dispatch_uid=f"bump-save-{name}")
            post_delete.connect(bump_on_write, sender=model, dispatch_uid=f"bump-delete-{name}")
        post_save.connect(bump_on_write, sender=TaggedNotice, dispatch_uid="bump-save-tagged")
        for through in (TaggedNotice, Notice.categories.through):
            uid = f"bump-m2m-{through.__name__}"
            m2m_changed.connect(bump_on_write, sender=through, dispatch_uid=uid)
