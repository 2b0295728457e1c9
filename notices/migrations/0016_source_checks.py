"""The link checker's results: one row per URL a notice links to (issue 15, notices/linkcheck.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('notices', '0015_deadlines'),
    ]

    operations = [
        migrations.CreateModel(
            name='SourceCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('url', models.TextField(verbose_name='URL')),
                ('url_hash', models.CharField(editable=False, max_length=64, unique=True)),
                ('outcome', models.CharField(choices=[('ok', 'ok'), ('gone', 'gone (404, 410)'), ('moved_home', 'redirected to the home page'), ('domain_gone', 'domain gone'), ('error', 'error (try again later)'), ('disallowed', 'not checked (robots.txt)')], max_length=12, verbose_name='outcome')),
                ('status', models.IntegerField(blank=True, null=True, verbose_name='HTTP status')),
                ('final_url', models.TextField(blank=True, verbose_name='final URL')),
                ('redirects', models.JSONField(blank=True, default=list, verbose_name='redirects')),
                ('error', models.CharField(blank=True, max_length=500, verbose_name='error')),
                ('checked_at', models.DateTimeField(db_index=True, verbose_name='checked at')),
                ('first_failed_at', models.DateTimeField(blank=True, null=True, verbose_name='failing since')),
                ('failures', models.IntegerField(default=0, verbose_name='failures in a row')),
            ],
            options={
                'verbose_name': 'source check',
                'verbose_name_plural': 'source checks',
                'ordering': ('-checked_at',),
                'indexes': [models.Index(fields=['outcome', 'failures'], name='sourcecheck_outcome')],
            },
        ),
    ]
