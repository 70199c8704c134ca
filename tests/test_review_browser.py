"""The review page end to end in a real browser: Debian's headless Chromium driven by selenium.

.ci/run installs `chromium` and `chromium-driver` when they are missing; on a developer machine without them the
test is skipped with a message (in CI, where CI=true, it fails instead).
"""

import os
import shutil
import tempfile
import threading

import pytest
from werkzeug.serving import make_server

from service import create_app

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1200,900")


def chromium_paths():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/lib/chromium/chromedriver"
                                              if os.path.exists("/usr/lib/chromium/chromedriver") else None)
    return browser, driver


def start_browser():
    """A headless Chromium with a fresh profile; the caller quits it and removes the profile."""
    browser, driver = chromium_paths()
    if not (browser and driver):
        message = "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options), profile


@pytest.fixture()
def live_app(tiny_registry, tmp_path):
    app = create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": 0.0, "SPAM_REJECT": 1.0,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", "API_KEYS": "client-key",
        "ADMIN_KEYS": "admin-key", "SECRET_KEY": "browser-test",
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_review_page_in_chromium(live_app):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    app, base = live_app
    client = app.test_client()
    for text in ("Is this the <script>alert(1)</script> council's final budget?", "Great piece, thanks",
                 "Follow me for more updates www.example.com"):
        response = client.post("/v1/moderate", json={"text": text, "article": {"id": "a1", "title": "Budget"}},
                               headers={"Authorization": "Bearer client-key"})
        assert response.json["decision"] == "flag"
    store = app.extensions["store"]
    ids = [r["id"] for r in store.review_queue()]

    driver, profile = start_browser()
    try:
        driver.implicitly_wait(5)
        driver.get(f"{base}/review")
        driver.find_element(By.ID, "key").send_keys("wrong-key")
        driver.find_element(By.ID, "sign-in").click()
        # Each click loads a new page: wait for it rather than read the one it leaves (stale elements).
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"),
                                                                         "not a valid admin key"))
        driver.find_element(By.ID, "key").send_keys("admin-key")
        driver.find_element(By.ID, "moderator").send_keys("Ana")
        driver.find_element(By.ID, "sign-in").click()
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "count")))

        items = driver.find_elements(By.CSS_SELECTOR, "article.item")
        assert [int(i.get_attribute("data-id")) for i in items] == ids == sorted(ids, reverse=True)
        assert "3 flagged comments awaiting review" in driver.find_element(By.ID, "count").text
        first = driver.find_element(By.ID, f"item-{ids[-1]}")
        assert "<script>alert(1)</script>" in first.find_element(By.CLASS_NAME, "text").text  # escaped, shown
        assert "spam 0." in first.text and "Spam score" in first.text and "article a1" in first.text

        flash = (By.CSS_SELECTOR, ".flash.ok")
        driver.find_element(By.ID, f"item-{ids[0]}").find_element(By.CSS_SELECTOR, "button.accept").click()
        # Wait for the page the click loads, not the one it leaves.
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element(flash, f"Comment {ids[0]}: accepted"))
        assert "accepted (label ham)" in driver.find_element(*flash).text
        assert not driver.find_elements(By.ID, f"item-{ids[0]}")
        driver.find_element(By.ID, f"item-{ids[1]}").find_element(By.CSS_SELECTOR, "button.reject").click()
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element(flash, f"Comment {ids[1]}: rejected"))
        assert "rejected (label spam)" in driver.find_element(*flash).text
        remaining = [int(i.get_attribute("data-id")) for i in driver.find_elements(By.CSS_SELECTOR, "article.item")]
        assert remaining == [ids[2]]
        assert "1 flagged comment awaiting review" in driver.find_element(By.ID, "count").text

        # One click stops the holds of a runaway reason (service/policy_settings.py), one more resumes them.
        driver.find_element(By.ID, f"item-{ids[2]}").find_element(By.CSS_SELECTOR, "button.pause").click()
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "resume-spam")))
        assert "Holding for spam paused" in driver.find_element(*flash).text
        # (a word of its article's: a short comment without one is held off-topic, paused spam holds or not)
        comment = {"text": "Another comment on the budget", "article": {"id": "a1", "title": "Budget"}}
        headers = {"Authorization": "Bearer client-key"}
        assert client.post("/v1/moderate", json=comment, headers=headers).json["decision"] == "accept"
        assert store.latest_policy_settings()["moderator"] == "Ana"
        driver.find_element(By.ID, "resume-spam").click()
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element(flash, "Holding for spam resumed"))
        assert not driver.find_elements(By.ID, "resume-spam")
        assert client.post("/v1/moderate", json=comment, headers=headers).json["decision"] == "flag"

        driver.find_element(By.ID, "sign-out").click()
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "key")))  # back to the sign-in form
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

    labels = [(r["decision_id"], r["label"], r["moderator"]) for r in store.list_feedback()]
    assert labels == [(ids[0], "ham", "Ana"), (ids[1], "spam", "Ana")]
    assert [r["id"] for r in store.review_queue()][-1] == ids[2]  # and the comment held after the resume
