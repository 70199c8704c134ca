"""The API contract (service/contract.py): the OpenAPI document's schemas are what the models generate, real answers
are what the response models declare, and a refusal of the models is the API's error (status, code, message)."""

from __future__ import annotations

import pytest

from service import response_models as rs
from service.contract import component_schemas, parse
from service.errors import ApiError
from service.openapi import REQUESTS, RESPONSES, spec
from service.request_models import (
    BatchRequest, FeedbackRequest, ModerateRequest, PolicySettingsChange, QueueQuery, ReviewsQuery, WavesQuery,
)

ADMIN = {"Authorization": "Bearer admin-key"}


def test_the_served_schemas_are_the_ones_the_models_generate(client):
    served = client.get("/openapi.json").get_json()
    assert served["components"]["schemas"] == component_schemas(REQUESTS, RESPONSES)
    models = {m.__name__ for m in REQUESTS + RESPONSES}
    for path, operations in served["paths"].items():
        for method, operation in operations.items():
            for content in [operation.get("requestBody", {}).get("content", {})] + \
                    [r.get("content", {}) for r in operation["responses"].values()]:
                ref = content.get("application/json", content.get("application/x-www-form-urlencoded", {})) \
                    .get("schema", {}).get("$ref")
                if ref:  # every body of the document is a model's, named as the model
                    assert ref.rsplit("/", 1)[-1] in models, (method, path, ref)
    for path, query in (("/v1/reviews", ReviewsQuery), ("/v1/review-queue", QueueQuery), ("/v1/waves", WavesQuery)):
        assert served["paths"][path]["get"]["parameters"] == query.parameters()


@pytest.mark.parametrize(("model", "body", "status", "code", "message"), [
    (ModerateRequest, {}, 422, "invalid_request", "The field 'text' is required."),
    (ModerateRequest, {"text": 5}, 422, "invalid_request", "'text' must be a string."),
    (ModerateRequest, {"text": "a\ud800"}, 400, "invalid_text",
     "'text' contains a lone surrogate, which is not valid Unicode."),
    (ModerateRequest, {"text": "ok", "article": {"title": "a\x00b"}}, 400, "invalid_text",
     "'article.title' contains a NUL character (U+0000), which cannot be stored."),
    (ModerateRequest, {"text": "ok", "article": {"id": ""}}, 422, "invalid_request",
     "'article.id' must be 1 to 255 characters."),
    (ModerateRequest, {"text": "ok", "comment_id": 2**63}, 422, "invalid_request",
     "'comment_id' as an integer must fit in 64 bits."),
    (BatchRequest, {"comments": [{"text": "ok"}] * 3 + [{"text": None}]}, 422, "invalid_request",
     "comments[3]: 'text' must be a string."),
    (BatchRequest, {"comments": [{"text": "ok"}, 7]}, 422, "invalid_request",
     "comments[1]: each comment must be a JSON object."),
    (BatchRequest, {"comments": [{"text": "ok"}] * 6}, 422, "batch_too_large",
     "A batch holds at most 5 comments; this one has 6."),
    (FeedbackRequest, {"text": "ok"}, 422, "invalid_label", "'label' must be one of spam, ham, off_topic."),
    (PolicySettingsChange, {"note": "why"}, 422, "invalid_request",
     "'settings' is required (an object; {} goes back to the configured policy)."),
    (PolicySettingsChange, {"settings": {"paused": ["{field}"]}, "note": "why"}, 422, "invalid_request",
     "'paused': unknown reason code '{field}'; reason codes are empty, too_long, repeat, links, banned_word, "
     "suspect_word, spam, off_topic, toxic."),
])
def test_a_refusal_is_the_apis_error_naming_the_field(model, body, status, code, message):
    with pytest.raises(ApiError) as refused:
        parse(model, body, {"max_comments": 5})
    assert (refused.value.status, refused.value.code, refused.value.message) == (status, code, message)


def _valid(model, response, status: int = 200):
    assert response.status_code == status, response.get_data(as_text=True)
    return model.model_validate_json(response.get_data(), strict=True)


def test_real_answers_are_what_the_response_models_declare(tiny_registry, tmp_path):
    from service import create_app

    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "ACCESS_LOG": False,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "ADMIN_KEYS": "admin-key"})
    client = app.test_client()
    _valid(rs.Liveness, client.get("/healthz"))
    _valid(rs.Readiness, client.get("/readyz"))
    _valid(rs.Model, client.get("/v1/model", headers=ADMIN))
    # every comment is held, so that the review queue, the feedback and the waves have something to show
    state = _valid(rs.PolicyState, client.put("/v1/policy", headers=ADMIN, json={
        "settings": {"spam_flag": 0.0, "spam_reject": 1.0, "off_topic_flag": 1.0}, "note": "hold all"}))
    assert state.settings["spam_flag"] == 0.0
    _valid(rs.StoredArticle, client.put("/v1/articles/a-1", headers=ADMIN, json={"title": "Floods", "body": "Rain."}),
           201)
    _valid(rs.StoredArticle, client.get("/v1/articles/a-1", headers=ADMIN))
    verdict = _valid(rs.Verdict, client.post("/v1/moderate", headers=ADMIN, json={
        "text": "The river rose overnight and the town flooded.", "article": {"id": "a-1"}, "comment_id": "c-1",
        "explain": True}))
    assert verdict.decision == "flag" and verdict.explanation is not None
    batch = _valid(rs.BatchResponse, client.post("/v1/moderate/batch", headers=ADMIN, json={"comments": [
        {"id": 7, "text": "Buy cheap watches at my shop now"}, {"text": "Buy cheap watches at my shop now"},
        {"id": "c-3", "text": "Buy cheap watches at my shop now", "explain": True, "parent_id": 7}]}))
    assert [r.id for r in batch.results] == [7, None, "c-3"]
    queue = _valid(rs.QueuePage, client.get("/v1/review-queue", headers=ADMIN))
    assert queue.items
    waves = _valid(rs.WaveList, client.get("/v1/waves", headers=ADMIN))
    _valid(rs.FeedbackStored, client.post("/v1/feedback", headers=ADMIN, json={
        "text": "Buy cheap watches at my shop now", "label": "spam", "decision_id": queue.items[0].decision_id}),
        201)
    _valid(rs.FeedbackStored, client.post("/v1/feedback", headers=ADMIN, json={
        "text": "Rain again", "label": "ham", "comment_id": "c-1", "moderator": 12}), 201)
    if waves.waves:
        _valid(rs.WaveEnded, client.delete(f"/v1/waves/{waves.waves[0].id}", headers=ADMIN))
    _valid(rs.ReviewPage, client.get("/v1/reviews?after=0", headers=ADMIN))
    records = _valid(rs.CommentRecords, client.get("/v1/comments/c-1", headers=ADMIN))
    assert records.flagged and records.labels
    _valid(rs.CommentErased, client.delete("/v1/comments/c-1", headers=ADMIN))
    _valid(rs.ArticleErased, client.delete("/v1/articles/a-1", headers=ADMIN))
    _valid(rs.PolicyState, client.get("/v1/policy", headers=ADMIN))
    _valid(rs.Error, client.post("/v1/moderate", headers=ADMIN, json={"text": 5}), 422)


def test_the_document_is_the_one_served(client):
    assert client.get("/openapi.json").get_json() == spec()
