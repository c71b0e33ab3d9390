"""The web front end: upload page, batch and review pages, and the JSON API."""

from __future__ import annotations

from flask import Flask

from core.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Application factory: configuration from the environment unless `settings` is given."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.from_mapping(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        MAX_FORM_PARTS=settings.max_files_per_batch + 16,  # files plus the form's own fields
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
    )
    if settings.proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies, x_proto=settings.proxies,
                                x_host=settings.proxies)  # type: ignore[method-assign]
    app.json.sort_keys = False  # keep the documented key order in API answers
    from web.ids import check_ids

    app.url_value_preprocessor(check_ids)
    from web import extensions

    extensions.init_app(app, settings)
    from web import api, auth, metrics, openapi, pages, review

    auth.init_app(app)
    api.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(pages.bp)
    return app
