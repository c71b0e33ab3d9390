"""WSGI entry point: `gunicorn web.wsgi:app`."""

from web import create_app

app = create_app()
