from webapp import create_app


def client(models_dir):
    return create_app({"TESTING": True, "MODELS_DIR": str(models_dir)}).test_client()


def test_healthz(tmp_path):
    response = client(tmp_path).get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_placeholder_lists_trained_and_missing_models(trained_models, tmp_path):
    page = client(trained_models / "models").get("/").get_data(as_text=True)
    assert "baseline-" in page and "5 tags" in page
    assert "transformer" in page and "not available yet" in page
    empty = client(tmp_path).get("/").get_data(as_text=True)
    assert "not trained yet" in empty
