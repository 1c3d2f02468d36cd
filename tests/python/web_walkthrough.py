"""Drives the web interface in headless Chromium through WebDriver, as a person would.

Run by the end-to-end test `web_browser` against a server it has seeded:
user `alice` (password given), package `my-app` with version 1.0.0 (files `app.tar.gz`
and `README.txt`) and 1.1.0. Writes screenshots to the directory given and exits non-zero
(with the reason) when anything is not as expected.

    python web_walkthrough.py BASE_URL PASSWORD SCREENSHOT_DIR
"""

import os
import sys
import tempfile
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("FORGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FORGE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


def start_browser(profile_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--user-data-dir=" + profile_dir,
    ):
        options.add_argument(flag)
    service = Service(executable_path=CHROMEDRIVER)
    return webdriver.Chrome(service=service, options=options)


class Walkthrough:
    def __init__(self, driver, base, password, shots):
        self.d = driver
        self.base = base.rstrip("/")
        self.password = password
        self.shots = shots
        self.wait = WebDriverWait(driver, 15)

    def check(self, condition, message):
        if not condition:
            raise AssertionError(message + " (at " + self.d.current_url + ")")

    def shot(self, name):
        path = os.path.join(self.shots, name + ".png")
        self.check(self.d.save_screenshot(path), "screenshot " + name)

    def open(self, path):
        self.d.get(self.base + path)

    def text(self):
        return self.d.find_element(By.TAG_NAME, "body").text

    def heading(self):
        return self.d.find_element(By.TAG_NAME, "h1").text

    def run(self):
        self.keyboard_and_home()
        self.sign_in()
        self.search_and_open()
        self.copy_command()
        self.delete_file()
        self.tokens()
        self.usage()
        self.csrf_refused()
        self.without_javascript()
        self.sign_out()

    def keyboard_and_home(self):
        self.open("/")
        self.check(self.heading() == "Packages", "start page heading")
        # The first Tab reaches the skip link, which leads to the content.
        self.d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        focused = self.d.switch_to.active_element
        self.check(focused.text == "Skip to content", "first tab stop is the skip link")
        self.shot("home")

    def sign_in(self):
        self.d.find_element(By.LINK_TEXT, "Sign in").click()
        self.wait.until(EC.title_contains("Sign in"))
        self.d.find_element(By.ID, "user_name").send_keys("alice")
        password = self.d.find_element(By.ID, "password")
        password.send_keys(self.password)
        self.shot("sign-in")
        password.send_keys(Keys.ENTER)
        self.wait.until(
            EC.presence_of_element_located((By.XPATH, "//button[contains(., 'Sign out alice')]"))
        )
        cookies = {c["name"]: c for c in self.d.get_cookies()}
        session = cookies.get("forge_session")
        self.check(session is not None, "session cookie set")
        self.check(session["httpOnly"], "session cookie is HttpOnly")
        self.check(session.get("sameSite") == "Lax", "session cookie is SameSite=Lax")
        self.check(
            self.d.execute_script("return document.cookie").find("forge_session") < 0,
            "scripts cannot read the session cookie",
        )

    def search_and_open(self):
        self.open("/")
        box = self.d.find_element(By.ID, "q")
        box.send_keys("my-app")
        box.send_keys(Keys.ENTER)
        self.wait.until(EC.url_contains("q=my-app"))
        self.d.find_element(By.LINK_TEXT, "my-app").click()
        self.wait.until(EC.title_contains("my-app 1.1.0"))
        # The other version is one click away.
        self.d.find_element(By.LINK_TEXT, "1.0.0").click()
        self.wait.until(EC.title_contains("my-app 1.0.0"))
        body = self.text()
        for expected in ("app.tar.gz", "README.txt", "Fetch and verify", "Downloads"):
            self.check(expected in body, "version page shows " + expected)
        self.shot("version")
        self.d.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
        )
        background = self.d.execute_script(
            "return getComputedStyle(document.body).backgroundColor"
        )
        self.check(background == "rgb(13, 17, 23)", "dark background, got " + background)
        self.shot("version-dark")
        self.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    def copy_command(self):
        self.d.execute_cdp_cmd(
            "Browser.grantPermissions",
            {
                "origin": self.base,
                "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
            },
        )
        button = self.d.find_element(By.CSS_SELECTOR, "button[data-copy='cmd-curl']")
        self.check(button.is_displayed(), "copy button shown when scripts run")
        button.click()
        self.wait.until(EC.text_to_be_present_in_element((By.ID, "cmd-curl-status"), "Copied"))
        expected = self.d.find_element(By.ID, "cmd-curl").text
        copied = self.d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.clipboard.readText().then(done, e => done('error: ' + e));"
        )
        self.check(copied.strip() == expected.strip(), "clipboard holds the command: " + copied)
        self.check(copied.startswith("curl -fL -o 'README.txt'") or "curl -fL" in copied,
                   "a curl command was copied")

    def delete_file(self):
        self.d.find_element(By.XPATH, "//a[contains(., 'Delete') and contains(., 'README.txt')]").click()
        self.wait.until(EC.title_contains("Delete README.txt?"))
        self.shot("delete-confirm")
        self.d.find_element(By.XPATH, "//form[@class='danger-zone']//button").click()
        self.wait.until(EC.title_contains("my-app 1.0.0"))
        files = self.d.find_element(By.CSS_SELECTOR, "table tbody").text
        self.check("README.txt" not in files, "README.txt is gone")
        self.check("app.tar.gz" in files, "app.tar.gz is still there")

    def tokens(self):
        self.d.find_element(By.LINK_TEXT, "Access tokens").click()
        self.wait.until(EC.title_contains("Access tokens"))
        self.d.find_element(By.ID, "token-name").send_keys("browser-ci")
        self.d.find_element(By.CSS_SELECTOR, "input[value='write:package']").click()
        self.d.find_element(By.XPATH, "//button[.='Create token']").click()
        self.wait.until(EC.presence_of_element_located((By.ID, "new-token")))
        token = self.d.find_element(By.ID, "new-token").text.strip()
        self.check(len(token) == 40, "a 40-character token is shown")
        self.shot("tokens")
        request = urllib.request.Request(
            self.base + "/api/packages/alice/generic/from-browser/1/f.txt",
            data=b"made with a token from the browser",
            method="PUT",
            headers={"Authorization": "token " + token},
        )
        with urllib.request.urlopen(request) as response:
            self.check(response.status == 201, "the new token uploads")
        self.open("/user/settings/applications")
        self.check(token not in self.d.page_source, "the token is shown only once")
        self.d.find_element(By.XPATH, "//button[contains(., 'Delete') and contains(., 'browser-ci')]").click()
        self.wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "main"), "You have no tokens."))
        try:
            urllib.request.urlopen(
                urllib.request.Request(
                    self.base + "/api/packages/alice/generic/from-browser/2/f.txt",
                    data=b"x",
                    method="PUT",
                    headers={"Authorization": "token " + token},
                )
            )
            self.check(False, "a deleted token must not work")
        except urllib.error.HTTPError as e:
            self.check(e.code == 401, "deleted token answers 401, got %d" % e.code)

    def usage(self):
        self.d.find_element(By.LINK_TEXT, "My packages").click()
        self.wait.until(EC.title_contains("Packages of alice"))
        self.shot("owner")
        self.d.find_element(By.LINK_TEXT, "Storage used").click()
        self.wait.until(EC.title_contains("Storage used by alice"))
        bars = self.d.find_elements(By.CSS_SELECTOR, "svg.usage rect.fill")
        self.check(len(bars) == 2, "one bar per package, got %d" % len(bars))
        self.shot("usage")

    def csrf_refused(self):
        self.open("/")
        # A form whose token was tampered with is refused and changes nothing.
        self.d.execute_script(
            "document.querySelector(\"form[action='/user/logout'] input[name='_csrf']\").value = '0'.repeat(64);"
        )
        self.d.find_element(By.XPATH, "//button[contains(., 'Sign out alice')]").click()
        self.wait.until(EC.title_contains("Not allowed"))
        self.check("reload the page" in self.text(), "the refusal says what to do")
        self.open("/")
        self.check("Sign out alice" in self.text(), "still signed in after the refused form")

    def without_javascript(self):
        self.d.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
        self.open("/alice/-/packages/generic/my-app/1.1.0")
        button = self.d.find_element(By.CSS_SELECTOR, "button[data-copy='cmd-curl']")
        self.check(not button.is_displayed(), "no copy button without scripts")
        self.check(self.d.find_element(By.ID, "cmd-curl").is_displayed(), "the command is shown")
        # The delete confirmation is a plain form.
        self.open("/alice/-/packages/generic/my-app/1.1.0/delete")
        self.d.find_element(By.XPATH, "//form[@class='danger-zone']//button").click()
        self.wait.until(EC.title_contains("Packages of alice"))
        self.check("1.1.0" not in self.text(), "version 1.1.0 deleted without scripts")
        self.d.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})

    def sign_out(self):
        self.open("/")
        self.d.find_element(By.XPATH, "//button[contains(., 'Sign out alice')]").click()
        self.wait.until(EC.presence_of_element_located((By.LINK_TEXT, "Sign in")))
        self.check(
            all(c["name"] != "forge_session" for c in self.d.get_cookies()),
            "session cookie removed",
        )
        self.open("/user/settings/applications")
        self.wait.until(EC.title_contains("Sign in"))


def main():
    base, password, shots = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(shots, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="forge-chromium-") as profile:
        driver = start_browser(profile)
        try:
            Walkthrough(driver, base, password, shots).run()
        except Exception:
            driver.save_screenshot(os.path.join(shots, "failure.png"))
            raise
        finally:
            driver.quit()
    print("browser walkthrough passed")


if __name__ == "__main__":
    main()
