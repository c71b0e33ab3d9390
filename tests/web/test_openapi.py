"""The OpenAPI description is true: schemathesis calls every /api/ operation with requests
generated from it, and every answer must be no server error and within the description."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from core.migrate import upgrade
from core.settings import Settings
from web import create_app

EXAMPLES = 25  # generated requests per operation


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    config = Settings.from_env({}, data_dir=data_dir)
    upgrade(config)
    app = create_app(config)
    app.testing = True
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def test_every_answer_is_within_the_description(api_schema) -> None:  # type: ignore[no-untyped-def]
    from schemathesis.specs.openapi import checks

    problems = []
    for found in api_schema.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(checks=[schemathesis.checks.not_a_server_error,
                                           checks.status_code_conformance,
                                           checks.content_type_conformance,
                                           checks.response_schema_conformance])

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - gather every operation's failure, then report
            problems.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not problems, "\n\n".join(problems)


def test_the_description_covers_every_api_route() -> None:
    app = create_app(Settings.from_env({}, data_dir=Path("/tmp/digits-openapi-routes")))
    from web.openapi import spec

    described = {path for path in spec()["paths"]}
    routes = {str(rule.rule).replace("<int:", "{").replace("<", "{").replace(">", "}")
              for rule in app.url_map.iter_rules() if str(rule.rule).startswith("/api/")}
    assert routes == described
