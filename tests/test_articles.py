"""Articles sent once by the CMS (PUT/GET /v1/articles/<id>)."""


def test_an_article_id_with_a_line_break_is_an_article_like_any_other(client):
    """Found by schemathesis: the id is what a comment's article.id may be, so PUT and GET take it too."""
    put = client.put("/v1/articles/a%0Ab", json={"title": "Mosul", "body": "Iraqi forces approach the city."})
    assert put.status_code == 201, put.get_json()
    got = client.get("/v1/articles/a%0Ab")
    assert got.status_code == 200 and got.get_json()["id"] == "a\nb"
